import Foundation

/// Discord REST settings shared by the deployables that talk to Discord.
public struct DiscordSettings: Sendable {
    /// `DISCORD_APPLICATION_ID`.
    public var applicationID: String?
    /// `DISCORD_BOT_TOKEN` (secret).
    public var botToken: String?
    /// `DISCORD_CHANNEL_ID`: where ready / join / leave / auto-stop notices go.
    public var channelID: String?
    /// `DISCORD_API_BASE`.
    public var apiBase: URL

    /// Creates settings directly.
    public init(applicationID: String?, botToken: String?, channelID: String?, apiBase: URL) {
        self.applicationID = applicationID
        self.botToken = botToken
        self.channelID = channelID
        self.apiBase = apiBase
    }

    /// True when channel notices can be posted to Discord.
    public var canPostToChannel: Bool { botToken != nil && channelID != nil }

    /// Reads the settings, recording problems in `reader`.
    public static func load(from reader: inout ConfigReader) -> DiscordSettings {
        let appID = reader.optional("DISCORD_APPLICATION_ID", "a Discord application id (digits)", ConfigParse.snowflake)
        let token = reader.optional("DISCORD_BOT_TOKEN", "a bot token", { s -> String? in
            s.contains(where: { $0.isWhitespace }) ? nil : s
        })
        let channel = reader.optional("DISCORD_CHANNEL_ID", "a channel id (digits)", ConfigParse.snowflake)
        let base = reader.optional(
            "DISCORD_API_BASE", default: URL(string: "https://discord.com/api/v10")!, "an http(s) URL",
            ConfigParse.httpURL)
        return DiscordSettings(applicationID: appID, botToken: token, channelID: channel, apiBase: base)
    }
}

/// Where the embedded backends keep their files.
public struct StorageSettings: Sendable {
    /// `SKALD_DATA`.
    public var dataDirectory: String

    /// Creates settings directly.
    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    /// The events queue file.
    public var queuePath: String { (dataDirectory as NSString).appendingPathComponent("events.sqlite") }
    /// The state table file.
    public var statePath: String { (dataDirectory as NSString).appendingPathComponent("state.sqlite") }

    /// Reads `SKALD_DATA` (default `./.skald`).
    public static func load(from reader: inout ConfigReader) -> StorageSettings {
        StorageSettings(dataDirectory: reader.optional("SKALD_DATA", default: "./.skald", "a folder path", ConfigParse.string))
    }

    /// Creates the data folder if needed.
    public func ensureDirectory() throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    }
}

/// Settings every command reads.
public struct CommonSettings: Sendable {
    /// `SKALD_SERVER`: the server (state record) this process serves.
    public var server: String
    /// `SKALD_LOG_LEVEL`.
    public var logLevel: Logger.Level

    /// Reads the settings, recording problems in `reader`.
    public static func load(from reader: inout ConfigReader) -> CommonSettings {
        CommonSettings(
            server: reader.optional(
                "SKALD_SERVER", default: "valheim", "1–64 letters, digits, '-', '_' or '.'", ConfigParse.serverName),
            logLevel: reader.optional(
                "SKALD_LOG_LEVEL", default: .info, "trace, debug, info, notice, warning, error or critical",
                ConfigParse.logLevel))
    }
}
