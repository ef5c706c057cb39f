import Foundation

// Discord's documented JSON, mapped one-to-one (snake_case on the wire). Unknown enum values decode.

/// An interaction Discord posts to the endpoint.
/// https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
public struct Interaction: Sendable, Decodable {
    /// Snowflake id.
    public var id: String
    /// The application it is for.
    public var applicationID: String
    /// What kind of interaction.
    public var type: InteractionType
    /// Command data (for application commands).
    public var data: InteractionData?
    /// The guild, when used in one.
    public var guildID: String?
    /// The channel id (also found as `channel.id`).
    public var channelID: String?
    /// The invoking member, in guilds.
    public var member: GuildMember?
    /// The invoking user, in DMs.
    public var user: DiscordUser?
    /// Continuation token (secret; valid 15 minutes).
    public var token: String

    enum CodingKeys: String, CodingKey {
        case id, type, data, member, user, token, channel
        case applicationID = "application_id"
        case guildID = "guild_id"
        case channelID = "channel_id"
    }

    private struct ChannelStub: Decodable { var id: String }

    /// Decodes, taking the channel id from `channel_id` or `channel.id`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        applicationID = try c.decode(String.self, forKey: .applicationID)
        type = try c.decode(InteractionType.self, forKey: .type)
        data = try c.decodeIfPresent(InteractionData.self, forKey: .data)
        guildID = try c.decodeIfPresent(String.self, forKey: .guildID)
        channelID =
            try c.decodeIfPresent(String.self, forKey: .channelID)
            ?? c.decodeIfPresent(ChannelStub.self, forKey: .channel)?.id
        member = try c.decodeIfPresent(GuildMember.self, forKey: .member)
        user = try c.decodeIfPresent(DiscordUser.self, forKey: .user)
        token = try c.decode(String.self, forKey: .token)
    }

    /// The invoking user, in a guild or a DM.
    public var invoker: DiscordUser? { member?.user ?? user }
}

/// Interaction types; unknown values are kept.
/// https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type
public struct InteractionType: RawRepresentable, Sendable, Equatable, Hashable, Codable {
    /// The wire value.
    public var rawValue: Int
    /// Creates a type.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// PING, sent when the endpoint is saved and at random.
    public static let ping = InteractionType(rawValue: 1)
    /// A slash command.
    public static let applicationCommand = InteractionType(rawValue: 2)
    /// A button or select.
    public static let messageComponent = InteractionType(rawValue: 3)
    /// Autocomplete for an option.
    public static let autocomplete = InteractionType(rawValue: 4)
    /// A modal submitted.
    public static let modalSubmit = InteractionType(rawValue: 5)

    /// Decodes any integer.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int.self)
    }
    /// Encodes the integer.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// Application command data.
/// https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-data-structure
public struct InteractionData: Sendable, Decodable {
    /// Command id.
    public var id: String?
    /// Command name.
    public var name: String?
    /// Options the user filled in.
    public var options: [CommandOptionValue]?
}

/// An option value in an interaction.
public struct CommandOptionValue: Sendable, Decodable {
    /// Option name.
    public var name: String
    /// Option type.
    public var type: Int
    /// The value (string, integer, number or boolean).
    public var value: JSONScalar?
    /// Nested options (subcommands).
    public var options: [CommandOptionValue]?
}

/// A JSON scalar of any type.
public enum JSONScalar: Sendable, Equatable, Decodable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)

    /// Decodes whichever scalar is present.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    /// The value as a string, when it is one.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// A guild member.
/// https://discord.com/developers/docs/resources/guild#guild-member-object
public struct GuildMember: Sendable, Decodable {
    /// The user.
    public var user: DiscordUser?
    /// Role ids.
    public var roles: [String]
    /// Total permissions of the member in the channel, including overwrites (a decimal bit set).
    public var permissions: String?
    /// Guild nickname.
    public var nick: String?

    enum CodingKeys: String, CodingKey { case user, roles, permissions, nick }

    /// Decodes, tolerating a missing role list.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        user = try c.decodeIfPresent(DiscordUser.self, forKey: .user)
        roles = try c.decodeIfPresent([String].self, forKey: .roles) ?? []
        permissions = try c.decodeIfPresent(String.self, forKey: .permissions)
        nick = try c.decodeIfPresent(String.self, forKey: .nick)
    }

    /// Whether the permission bit set includes `bit`.
    public func hasPermission(_ bit: UInt64) -> Bool {
        guard let p = permissions, let v = UInt64(p) else { return false }
        return v & bit != 0
    }
}

/// Permission bits Skald checks.
/// https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags
public enum DiscordPermission {
    /// ADMINISTRATOR.
    public static let administrator: UInt64 = 1 << 3
    /// MANAGE_GUILD ("Manage Server").
    public static let manageGuild: UInt64 = 1 << 5
}

/// A user.
/// https://discord.com/developers/docs/resources/user#user-object
public struct DiscordUser: Sendable, Decodable {
    /// Snowflake id.
    public var id: String
    /// Username.
    public var username: String?
    /// Display name.
    public var globalName: String?

    enum CodingKeys: String, CodingKey {
        case id, username
        case globalName = "global_name"
    }

    /// The name to show: display name, else username, else the id.
    public var displayName: String { globalName ?? username ?? id }
}

/// The initial response to an interaction.
/// https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object
public struct InteractionResponse: Sendable, Encodable {
    /// Callback type: 1 PONG, 4 message, 5 deferred message, 8 autocomplete result.
    public var type: Int
    /// Message data.
    public var data: InteractionCallbackData?

    /// PONG.
    public static let pong = InteractionResponse(type: 1, data: nil)

    /// A message now (type 4); ephemeral messages are seen by the invoking user only.
    public static func message(_ content: String, ephemeral: Bool) -> InteractionResponse {
        InteractionResponse(
            type: 4, data: InteractionCallbackData(content: content, flags: ephemeral ? MessageFlags.ephemeral : nil))
    }

    /// "Thinking…" now, an edit of the original response later (type 5).
    public static func deferred(ephemeral: Bool = false) -> InteractionResponse {
        InteractionResponse(type: 5, data: ephemeral ? InteractionCallbackData(content: nil, flags: MessageFlags.ephemeral) : nil)
    }

    /// No autocomplete suggestions (type 8).
    public static let noChoices = InteractionResponse(type: 8, data: InteractionCallbackData(content: nil, flags: nil, choices: []))
}

/// Message flags.
public enum MessageFlags {
    /// Only the invoking user sees the message.
    public static let ephemeral = 64
}

/// The `data` of an interaction response.
public struct InteractionCallbackData: Sendable, Encodable {
    /// Message text.
    public var content: String?
    /// Message flags.
    public var flags: Int?
    /// Autocomplete choices.
    public var choices: [String]?
    /// Mentions are never parsed: player names must not ping anyone.
    public var allowedMentions = AllowedMentions()

    enum CodingKeys: String, CodingKey {
        case content, flags, choices
        case allowedMentions = "allowed_mentions"
    }

    /// Creates response data.
    public init(content: String?, flags: Int?, choices: [String]? = nil) {
        self.content = content
        self.flags = flags
        self.choices = choices
    }
}

/// `allowed_mentions` with nothing allowed.
public struct AllowedMentions: Sendable, Codable, Equatable {
    /// Mention types to parse (none).
    public var parse: [String] = []
    /// Creates the empty set.
    public init() {}
}

/// A command definition for registration.
/// https://discord.com/developers/docs/interactions/application-commands#application-command-object
public struct ApplicationCommand: Sendable, Codable, Equatable {
    /// Name (lowercase).
    public var name: String
    /// Description shown in the client.
    public var description: String
    /// Options.
    public var options: [ApplicationCommandOption]
    /// 1 = CHAT_INPUT (slash command).
    public var type: Int = 1
    /// Interaction contexts: 0 = guild only.
    public var contexts: [Int]? = [0]
    /// Registered id (in responses).
    public var id: String?

    /// Creates a slash command definition.
    public init(name: String, description: String, options: [ApplicationCommandOption]) {
        self.name = name
        self.description = description
        self.options = options
    }

    enum CodingKeys: String, CodingKey { case name, description, options, type, contexts, id }

    /// Decodes a registered command (fields Discord may omit default).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        options = try c.decodeIfPresent([ApplicationCommandOption].self, forKey: .options) ?? []
        type = try c.decodeIfPresent(Int.self, forKey: .type) ?? 1
        contexts = try c.decodeIfPresent([Int].self, forKey: .contexts)
        id = try c.decodeIfPresent(String.self, forKey: .id)
    }
}

/// A command option definition.
/// https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-structure
public struct ApplicationCommandOption: Sendable, Codable, Equatable {
    /// 3 = STRING.
    public var type: Int
    /// Name.
    public var name: String
    /// Description.
    public var description: String
    /// Whether it must be given.
    public var required: Bool?

    /// Creates an option definition.
    public init(type: Int, name: String, description: String, required: Bool?) {
        self.type = type
        self.name = name
        self.description = description
        self.required = required
    }
}

/// A created channel message, as far as Skald reads it.
public struct DiscordMessage: Sendable, Decodable {
    /// Message id.
    public var id: String
    /// Its nonce, echoed back.
    public var nonce: JSONScalar?
}
