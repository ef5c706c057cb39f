import Foundation

/// Why a queue message could not be read as an event (kept as the poison reason).
public enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    /// Not a JSON object.
    case notJSON
    /// A `v` this build does not understand.
    case unsupportedVersion(Int)
    /// A `kind` this build does not understand.
    case unknownKind(String)
    /// A required field is missing or has the wrong shape.
    case invalid(String)

    /// The reason, as stored with a poisoned message.
    public var description: String {
        switch self {
        case .notJSON: "not a JSON object"
        case .unsupportedVersion(let v): "unsupported envelope version \(v) (this build reads v1)"
        case .unknownKind(let k): "unknown event kind \"\(k.prefix(40))\""
        case .invalid(let why): "invalid event: \(why)"
        }
    }
}

/// Version 1 of the event envelope that every queue message carries (see the design's "Event envelope").
public struct EventEnvelope: Sendable, Equatable, Codable {
    /// The envelope version this build writes and reads.
    public static let version = 1

    /// Unique and stable across retries: the queue and the worker deduplicate by it.
    public var id: String
    /// When the thing happened (a log line's own time when it has one).
    public var at: Date
    /// The server (state record) it concerns.
    public var server: String
    /// What happened.
    public var payload: Payload

    /// The kinds of event.
    public enum Payload: Sendable, Equatable {
        /// A player's or operator's command (`/start`, `/stop`, `/status`).
        case command(CommandEvent)
        /// A classified line from the game's log.
        case log(LogEvent)
        /// Something about the game host itself (eviction notice, address).
        case host(HostEvent)
        /// A timer that came due (idle check, boot timeout).
        case timer(TimerEvent)
    }

    /// Creates an envelope.
    public init(id: String, at: Date, server: String, payload: Payload) {
        self.id = id
        self.at = at
        self.server = server
        self.payload = payload
    }

    /// The `kind` string on the wire.
    public var kind: String {
        switch payload {
        case .command: "command"
        case .log: "log"
        case .host: "host"
        case .timer: "timer"
        }
    }

    private enum Keys: String, CodingKey {
        case v, id, at, server, kind, command, host, line, event, player, platformID, hostEvent, timer, seq, code, count
    }

    /// Decodes and validates; unknown versions and kinds throw `EnvelopeError` (never crash).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let v = try c.decode(Int.self, forKey: .v)
        guard v == Self.version else { throw EnvelopeError.unsupportedVersion(v) }
        id = try c.decode(String.self, forKey: .id)
        at = try c.decode(Date.self, forKey: .at)
        server = try c.decode(String.self, forKey: .server)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "command":
            payload = .command(try c.decode(CommandEvent.self, forKey: .command))
        case "log":
            payload = .log(
                LogEvent(
                    host: try c.decodeIfPresent(String.self, forKey: .host),
                    line: try c.decode(String.self, forKey: .line),
                    event: try c.decode(String.self, forKey: .event),
                    player: try c.decodeIfPresent(String.self, forKey: .player),
                    platformID: try c.decodeIfPresent(String.self, forKey: .platformID),
                    seq: try c.decodeIfPresent(Int64.self, forKey: .seq),
                    code: try c.decodeIfPresent(String.self, forKey: .code),
                    count: try c.decodeIfPresent(Int.self, forKey: .count)))
        case "host":
            payload = .host(
                HostEvent(
                    host: try c.decodeIfPresent(String.self, forKey: .host),
                    detail: try c.decode(HostEvent.Detail.self, forKey: .hostEvent)))
        case "timer":
            payload = .timer(try c.decode(TimerEvent.self, forKey: .timer))
        default:
            throw EnvelopeError.unknownKind(kind)
        }
        if let problem = validationProblem { throw EnvelopeError.invalid(problem) }
    }

    /// Encodes in the flat wire shape of the design.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Self.version, forKey: .v)
        try c.encode(id, forKey: .id)
        try c.encode(at, forKey: .at)
        try c.encode(server, forKey: .server)
        try c.encode(kind, forKey: .kind)
        switch payload {
        case .command(let cmd):
            try c.encode(cmd, forKey: .command)
        case .log(let log):
            try c.encodeIfPresent(log.host, forKey: .host)
            try c.encode(log.line, forKey: .line)
            try c.encode(log.event, forKey: .event)
            try c.encodeIfPresent(log.player, forKey: .player)
            try c.encodeIfPresent(log.platformID, forKey: .platformID)
            try c.encodeIfPresent(log.seq, forKey: .seq)
            try c.encodeIfPresent(log.code, forKey: .code)
            try c.encodeIfPresent(log.count, forKey: .count)
        case .host(let h):
            try c.encodeIfPresent(h.host, forKey: .host)
            try c.encode(h.detail, forKey: .hostEvent)
        case .timer(let t):
            try c.encode(t, forKey: .timer)
        }
    }

    /// What is wrong with fields that decode but make no sense, or `nil`.
    public var validationProblem: String? {
        if id.isEmpty || id.utf8.count > 512 || id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "id must be 1–512 bytes without control characters"
        }
        if !ServerName.isValid(server) { return "server must be 1–64 letters, digits, '-', '_' or '.'" }
        if case .log(let l) = payload, l.line.utf8.count > 64 * 1024 { return "line longer than 64 KiB" }
        return nil
    }

    /// The JSON bytes of this envelope.
    public func encoded() -> [UInt8] {
        // Encoding these plain value types cannot fail.
        (try? Array(JSONCoding.encoder.encode(self))) ?? []
    }

    /// Decodes one envelope from JSON bytes, mapping every failure to an `EnvelopeError` with a reason.
    public static func decode(_ bytes: [UInt8]) throws(EnvelopeError) -> EventEnvelope {
        do {
            return try JSONCoding.decoder.decode(EventEnvelope.self, from: Data(bytes))
        } catch let e as EnvelopeError {
            throw e
        } catch let e as DecodingError {
            throw Self.describe(e)
        } catch {
            throw .notJSON
        }
    }

    /// Decodes a JSON value that is one envelope or an array of them; each element decodes independently and
    /// keeps its own bytes, so a bad element can be poisoned with its reason while the others go through.
    public static func decodeMany(_ bytes: [UInt8]) throws(EnvelopeError) -> [DecodedElement] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            throw .notJSON
        }
        let items: [Any]
        if let array = json as? [Any] {
            items = array
        } else if json is [String: Any] {
            items = [json]
        } else {
            throw .notJSON
        }
        return items.map { item in
            guard let object = item as? [String: Any],
                let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            else {
                let raw = (try? JSONSerialization.data(withJSONObject: [item], options: [])).map(Array.init) ?? []
                return DecodedElement(raw: raw, declaredID: nil, result: .failure(.notJSON))
            }
            let declaredID = object["id"] as? String
            do throws(EnvelopeError) {
                return DecodedElement(raw: Array(data), declaredID: declaredID, result: .success(try decode(Array(data))))
            } catch {
                return DecodedElement(raw: Array(data), declaredID: declaredID, result: .failure(error))
            }
        }
    }

    /// One element of a `decodeMany` batch.
    public struct DecodedElement: Sendable {
        /// The element's own JSON bytes.
        public var raw: [UInt8]
        /// Its `id`, when it has a string one (even if the rest is invalid).
        public var declaredID: String?
        /// The envelope, or why it is not one.
        public var result: Result<EventEnvelope, EnvelopeError>
    }

    private static func describe(_ e: DecodingError) -> EnvelopeError {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the top level" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .keyNotFound(let key, let ctx):
            let at = ctx.codingPath.isEmpty ? "" : " in \(path(ctx.codingPath))"
            return .invalid("missing \"\(key.stringValue)\"\(at)")
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return .invalid("wrong type at \(path(ctx.codingPath))")
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return .notJSON }
            return .invalid("\(path(ctx.codingPath)): \(ctx.debugDescription)")
        @unknown default:
            return .invalid("undecodable")
        }
    }
}

/// The slash commands Skald understands.
public enum CommandName: String, Sendable, Codable, CaseIterable {
    case start, stop, status
}

/// A command event: who asked for what, and how to answer them.
public struct CommandEvent: Sendable, Equatable, Codable {
    /// The command.
    public var name: CommandName
    /// The Discord interaction to answer (absent for operator commands from the CLI).
    public var interaction: InteractionRef?
    /// Where the command came from when not from Discord (`cli`).
    public var origin: String?

    /// Creates a command event.
    public init(name: CommandName, interaction: InteractionRef? = nil, origin: String? = nil) {
        self.name = name
        self.interaction = interaction
        self.origin = origin
    }
}

/// What the worker needs to answer a Discord interaction later (its token is a secret: never log it).
public struct InteractionRef: Sendable, Equatable, Codable {
    /// The interaction id.
    public var id: String
    /// The interaction token (valid 15 minutes; edits the original response).
    public var token: String
    /// The application id.
    public var applicationID: String
    /// The channel it was used in.
    public var channelID: String?
    /// The guild it was used in.
    public var guildID: String?
    /// Who used it.
    public var user: UserRef?

    /// Creates a reference.
    public init(
        id: String, token: String, applicationID: String, channelID: String?, guildID: String?, user: UserRef?
    ) {
        self.id = id
        self.token = token
        self.applicationID = applicationID
        self.channelID = channelID
        self.guildID = guildID
        self.user = user
    }
}

/// A Discord user, as far as notices need one.
public struct UserRef: Sendable, Equatable, Codable {
    /// The user's snowflake.
    public var id: String
    /// Display name (global name, else username).
    public var name: String

    /// Creates a reference.
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// A classified log line.
public struct LogEvent: Sendable, Equatable {
    /// The game host that read it.
    public var host: String?
    /// The raw line (capped by the watcher).
    public var line: String
    /// What the classifier made of it (`ready`, `join`, `leave`, …).
    public var event: String
    /// The character name, when known.
    public var player: String?
    /// The platform id (SteamID, `Steam_…`, `Xbox_…`), when known.
    public var platformID: String?
    /// Position of the line in its log (orders events that share a timestamp).
    public var seq: Int64?
    /// For `join_code`: the crossplay join code.
    public var code: String?
    /// Players online according to the game, when the line says.
    public var count: Int?

    /// Creates a log event.
    public init(
        host: String?, line: String, event: String, player: String? = nil, platformID: String? = nil,
        seq: Int64? = nil, code: String? = nil, count: Int? = nil
    ) {
        self.host = host
        self.line = line
        self.event = event
        self.player = player
        self.platformID = platformID
        self.seq = seq
        self.code = code
        self.count = count
    }
}

/// An event about the game host.
public struct HostEvent: Sendable, Equatable {
    /// The host's name.
    public var host: String?
    /// What happened.
    public var detail: Detail

    /// Creates a host event.
    public init(host: String?, detail: Detail) {
        self.host = host
        self.detail = detail
    }

    /// The `hostEvent` object.
    public struct Detail: Sendable, Equatable, Codable {
        /// `preempt` (spot eviction notice), `address` (the host's public address), …
        public var type: String
        /// For `preempt`: when the host will be taken.
        public var notBefore: Date?
        /// For `address` and `scaled`: the address players connect to.
        public var address: String?
        /// For `scaled` / `scale-failed`: the capacity the host was scaled to (0 or 1).
        public var capacity: Int?
        /// For `scaled` / `scale-failed`: the start cycle the scale operation belonged to.
        public var generation: Int?
        /// For `scale-failed`: why.
        public var reason: String?

        /// Creates a detail.
        public init(
            type: String, notBefore: Date? = nil, address: String? = nil, capacity: Int? = nil, generation: Int? = nil,
            reason: String? = nil
        ) {
            self.type = type
            self.notBefore = notBefore
            self.address = address
            self.capacity = capacity
            self.generation = generation
            self.reason = reason
        }

        /// The spot VM will be evicted (`notBefore`).
        public static let preempt = "preempt"
        /// The host's public address (`address`), reported by the watcher when it starts.
        public static let address = "address"
        /// A scale operation settled (`capacity`, `address`, `generation`).
        public static let scaled = "scaled"
        /// A scale operation failed (`capacity`, `reason`, `generation`).
        public static let scaleFailed = "scale-failed"
    }
}

/// A timer that came due.
public struct TimerEvent: Sendable, Equatable, Codable {
    /// `idle-check` or `boot-timeout`.
    public var name: String

    /// The idle check: stop if nobody has been online for the idle timeout.
    public static let idleCheck = "idle-check"
    /// The boot timeout: stop a server that never became ready.
    public static let bootTimeout = "boot-timeout"
    /// When it was due.
    public var due: Date
    /// The state generation that scheduled it; a timer from an older generation is stale and ignored.
    public var generation: Int?

    /// Creates a timer event.
    public init(name: String, due: Date, generation: Int? = nil) {
        self.name = name
        self.due = due
        self.generation = generation
    }
}
