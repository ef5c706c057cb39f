import Foundation
import Shared

/// Configuration of the interactions API (`skald api`, and the API part of `skald up`).
public struct APIConfig: Sendable {
    /// `DISCORD_PUBLIC_KEY`: verifies every interaction.
    public var publicKey: Ed25519PublicKey
    /// `DISCORD_APPLICATION_ID`, when set: interactions for another application are refused.
    public var applicationID: String?
    /// `SKALD_LISTEN`.
    public var listen: HostPort
    /// `SKALD_SERVER`: the server commands apply to when no `server` option is given.
    public var server: String
    /// `SKALD_INGEST_TOKEN`: enables `POST /events`.
    public var ingestToken: String?
    /// `SKALD_ALLOWED_ROLES`: when set, only these roles (or Administrator / Manage Server) may start or stop.
    public var allowedRoles: Set<String>?
    /// `SKALD_REPLAY_WINDOW_SECONDS`: signed timestamps further than this from now are refused as replays.
    public var replayWindow: Double
    /// Where the embedded queue lives.
    public var storage: StorageSettings

    /// Creates a configuration directly (tests).
    public init(
        publicKey: Ed25519PublicKey, applicationID: String? = nil, listen: HostPort = HostPort(host: "127.0.0.1", port: 0),
        server: String = "valheim", ingestToken: String? = nil, allowedRoles: Set<String>? = nil,
        replayWindow: Double = 600, storage: StorageSettings = StorageSettings(dataDirectory: "./.skald")
    ) {
        self.publicKey = publicKey
        self.applicationID = applicationID
        self.listen = listen
        self.server = server
        self.ingestToken = ingestToken
        self.allowedRoles = allowedRoles
        self.replayWindow = replayWindow
        self.storage = storage
    }

    /// Reads the configuration, recording every problem in `reader`; `nil` when something required is wrong.
    public static func load(from reader: inout ConfigReader, common: CommonSettings, storage: StorageSettings) -> APIConfig? {
        let key = reader.required(
            "DISCORD_PUBLIC_KEY", "the application's public key: 64 hex characters from the Developer Portal",
            Ed25519PublicKey.init(hex:))
        let appID = reader.optional("DISCORD_APPLICATION_ID", "a Discord application id (digits)", ConfigParse.snowflake)
        let listen = reader.optional(
            "SKALD_LISTEN", default: HostPort(host: "127.0.0.1", port: 8080), "host:port", ConfigParse.hostPort)
        let token = reader.optional("SKALD_INGEST_TOKEN", "at least 16 characters, no whitespace") { s -> String? in
            s.count >= 16 && !s.contains(where: { $0.isWhitespace }) ? s : nil
        }
        let roles = reader.optional("SKALD_ALLOWED_ROLES", "comma-separated role ids", ConfigParse.snowflakeList)
        let window = reader.optional(
            "SKALD_REPLAY_WINDOW_SECONDS", default: 600, "a whole number of seconds, 5–86400",
            { ConfigParse.int(in: 5...86_400)($0).map(Double.init) })
        guard let key else { return nil }
        return APIConfig(
            publicKey: key, applicationID: appID, listen: listen, server: common.server, ingestToken: token,
            allowedRoles: roles.map(Set.init), replayWindow: window, storage: storage)
    }
}
