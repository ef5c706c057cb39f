import Foundation

/// Where a server is in its life cycle.
public enum ServerStatus: String, Sendable, Codable, CaseIterable {
    /// Scaled to zero; costs nothing.
    case offline
    /// Asked to start; the host is being scaled up.
    case starting
    /// The host is up; the game is loading its world.
    case booting
    /// The game is accepting players.
    case online
    /// Being stopped (the world is saved first).
    case stopping

    /// The host capacity this status wants: 1 while starting, booting or online, 0 otherwise.
    public var desiredCapacity: Int {
        switch self {
        case .starting, .booting, .online: 1
        case .offline, .stopping: 0
        }
    }

    /// True while the host is (or should be) running.
    public var isRunning: Bool { desiredCapacity == 1 }
}

/// One player as the state record tracks them.
public struct PlayerRecord: Sendable, Codable, Equatable {
    /// Online now.
    public var online: Bool
    /// Time of the newest event applied to this player.
    public var lastEventAt: Date
    /// Log position of that event (breaks ties between events in the same second).
    public var lastSeq: Int64?
    /// Platform id, when known.
    public var platformID: String?

    /// Creates a record.
    public init(online: Bool, lastEventAt: Date, lastSeq: Int64?, platformID: String?) {
        self.online = online
        self.lastEventAt = lastEventAt
        self.lastSeq = lastSeq
        self.platformID = platformID
    }

    private enum CodingKeys: String, CodingKey {
        case online = "on", lastEventAt = "t", lastSeq = "seq", platformID = "pid"
    }

    /// Decodes the compact stored form (`t` in epoch milliseconds).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        online = try c.decode(Bool.self, forKey: .online)
        lastEventAt = Date(timeIntervalSince1970: Double(try c.decode(Int64.self, forKey: .lastEventAt)) / 1000)
        lastSeq = try c.decodeIfPresent(Int64.self, forKey: .lastSeq)
        platformID = try c.decodeIfPresent(String.self, forKey: .platformID)
    }

    /// Encodes compactly: every event rewrites the whole record, so its players are kept short.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(online, forKey: .online)
        try c.encode(Int64((lastEventAt.timeIntervalSince1970 * 1000).rounded()), forKey: .lastEventAt)
        try c.encodeIfPresent(lastSeq, forKey: .lastSeq)
        try c.encodeIfPresent(platformID, forKey: .platformID)
    }

    /// True when an event at (`at`, `seq`) is newer than what this record has seen.
    public func isOlderThan(at: Date, seq: Int64?) -> Bool {
        // Compared in whole milliseconds: the stored form keeps milliseconds, so equal times stay equal after
        // a round trip through storage.
        let a = Int64((at.timeIntervalSince1970 * 1000).rounded())
        let b = Int64((lastEventAt.timeIntervalSince1970 * 1000).rounded())
        if a != b { return a > b }
        guard let seq, let lastSeq else { return false }
        return seq > lastSeq
    }
}

/// A Discord interaction whose reply Skald still edits (the `/start` caller waiting for "ready").
public struct PendingInteraction: Sendable, Codable, Equatable {
    /// Interaction id.
    public var id: String
    /// Application id.
    public var applicationID: String
    /// Interaction token (secret; valid 15 minutes).
    public var token: String
    /// After this the token no longer works.
    public var expiresAt: Date

    /// Creates a pending interaction.
    public init(id: String, applicationID: String, token: String, expiresAt: Date) {
        self.id = id
        self.applicationID = applicationID
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A side effect decided by the worker's brain, executed only after the state write that decided it.
public enum Action: Sendable, Codable, Equatable {
    /// Scale the game host to `capacity` (0 or 1); `generation` ties it to one start cycle.
    case scale(capacity: Int, generation: Int)
    /// Edit a Discord interaction's original reply.
    case reply(PendingInteraction, String)
    /// Post to the notice channel; `nonce` makes a repeat return the earlier message instead.
    case channel(String, nonce: String)
    /// Send `timer` as a delayed queue message due at its `due` time.
    case schedule(TimerEvent)
    /// Tell an operator (CLI) what happened; goes to the console.
    case console(String)

    private enum CodingKeys: String, CodingKey { case t, capacity, generation, to, text, nonce, timer }

    /// Decodes the flat stored form (`{"t":"channel","text":…,"nonce":…}`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .t) {
        case "scale":
            self = .scale(capacity: try c.decode(Int.self, forKey: .capacity), generation: try c.decode(Int.self, forKey: .generation))
        case "reply":
            self = .reply(try c.decode(PendingInteraction.self, forKey: .to), try c.decode(String.self, forKey: .text))
        case "channel":
            self = .channel(try c.decode(String.self, forKey: .text), nonce: try c.decode(String.self, forKey: .nonce))
        case "schedule":
            self = .schedule(try c.decode(TimerEvent.self, forKey: .timer))
        case "console":
            self = .console(try c.decode(String.self, forKey: .text))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .t, in: c, debugDescription: "unknown action \(other)")
        }
    }

    /// Encodes flat, with a type tag (cheaper than the synthesised nested form).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .scale(let capacity, let generation):
            try c.encode("scale", forKey: .t)
            try c.encode(capacity, forKey: .capacity)
            try c.encode(generation, forKey: .generation)
        case .reply(let to, let text):
            try c.encode("reply", forKey: .t)
            try c.encode(to, forKey: .to)
            try c.encode(text, forKey: .text)
        case .channel(let text, let nonce):
            try c.encode("channel", forKey: .t)
            try c.encode(text, forKey: .text)
            try c.encode(nonce, forKey: .nonce)
        case .schedule(let timer):
            try c.encode("schedule", forKey: .t)
            try c.encode(timer, forKey: .timer)
        case .console(let text):
            try c.encode("console", forKey: .t)
            try c.encode(text, forKey: .text)
        }
    }
}

/// An applied event, kept in a bounded ring for idempotency, with the actions it decided (so a redelivery
/// after a crash can finish them).
public struct AppliedEvent: Sendable, Codable, Equatable {
    /// The event id.
    public var id: String
    /// The actions its application decided.
    public var actions: [Action]

    /// Creates an entry.
    public init(id: String, actions: [Action]) {
        self.id = id
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey { case id, actions }

    /// Decodes; a missing action list is empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        actions = try c.decodeIfPresent([Action].self, forKey: .actions) ?? []
    }

    /// Encodes; an empty action list is left out (most entries), which keeps the record small.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        if !actions.isEmpty { try c.encode(actions, forKey: .actions) }
    }
}

/// The state record of one server (one row / entity / item per server in the `StateStore`).
public struct ServerState: Sendable, Codable, Equatable {
    /// How many applied event ids are remembered.
    public static let appliedRingSize = 256
    /// How many of the newest applied events keep their actions (for finishing them after a crash); older
    /// entries keep only their id, which keeps the record small.
    public static let actionsKept = 16

    /// Server name (the record key).
    public var server: String
    /// Life-cycle status.
    public var status: ServerStatus
    /// Host address players connect to (no port).
    public var ip: String?
    /// Players by character name.
    public var players: [String: PlayerRecord]
    /// Start of the current (or last) session.
    public var startedAt: Date?
    /// Last player or command activity.
    public var lastActivityAt: Date?
    /// When the server last became ready.
    public var readyAt: Date?
    /// Since when nobody has been online (while online), for the idle stop.
    public var idleSince: Date?
    /// When the world was last saved.
    public var lastSavedAt: Date?
    /// Crossplay join code, when the game registered one.
    public var joinCode: String?
    /// `/start` replies to edit when the server is ready.
    public var pendingInteractions: [PendingInteraction]
    /// Recently applied events (bounded ring, oldest first).
    public var appliedEvents: [AppliedEvent]
    /// Increases with every start cycle; timers and scale results from older cycles are stale.
    public var generation: Int
    /// When the record was last written.
    public var updatedAt: Date?

    /// A new, offline record.
    public init(server: String) {
        self.server = server
        status = .offline
        players = [:]
        pendingInteractions = []
        appliedEvents = []
        generation = 0
    }

    private enum CodingKeys: String, CodingKey {
        case server, status, ip, players, startedAt, lastActivityAt, readyAt, idleSince, lastSavedAt, joinCode
        case pendingInteractions, generation, updatedAt
        case applied, appliedActions
    }

    /// Decodes a stored record.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decode(String.self, forKey: .server)
        status = try c.decode(ServerStatus.self, forKey: .status)
        ip = try c.decodeIfPresent(String.self, forKey: .ip)
        players = try c.decodeIfPresent([String: PlayerRecord].self, forKey: .players) ?? [:]
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        lastActivityAt = try c.decodeIfPresent(Date.self, forKey: .lastActivityAt)
        readyAt = try c.decodeIfPresent(Date.self, forKey: .readyAt)
        idleSince = try c.decodeIfPresent(Date.self, forKey: .idleSince)
        lastSavedAt = try c.decodeIfPresent(Date.self, forKey: .lastSavedAt)
        joinCode = try c.decodeIfPresent(String.self, forKey: .joinCode)
        pendingInteractions = try c.decodeIfPresent([PendingInteraction].self, forKey: .pendingInteractions) ?? []
        generation = try c.decodeIfPresent(Int.self, forKey: .generation) ?? 0
        updatedAt = try c.decodeIfPresent(Date.self, forKey: .updatedAt)
        let ids = try c.decodeIfPresent(String.self, forKey: .applied) ?? ""
        let withActions = try c.decodeIfPresent([AppliedEvent].self, forKey: .appliedActions) ?? []
        var actions: [String: [Action]] = [:]
        for a in withActions { actions[a.id] = a.actions }
        appliedEvents = ids.split(separator: "\n").map { id in
            let id = String(id)
            return AppliedEvent(id: id, actions: actions[id] ?? [])
        }
    }

    /// Encodes for storage. The applied-id ring is one newline-joined string (event ids are printable and
    /// have no newline), and only the entries that still keep actions are encoded as objects: writing the
    /// record is on every event's path, and a few hundred small objects cost more than the rest of it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(server, forKey: .server)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(ip, forKey: .ip)
        try c.encode(players, forKey: .players)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(lastActivityAt, forKey: .lastActivityAt)
        try c.encodeIfPresent(readyAt, forKey: .readyAt)
        try c.encodeIfPresent(idleSince, forKey: .idleSince)
        try c.encodeIfPresent(lastSavedAt, forKey: .lastSavedAt)
        try c.encodeIfPresent(joinCode, forKey: .joinCode)
        if !pendingInteractions.isEmpty { try c.encode(pendingInteractions, forKey: .pendingInteractions) }
        try c.encode(generation, forKey: .generation)
        try c.encodeIfPresent(updatedAt, forKey: .updatedAt)
        try c.encode(appliedEvents.map(\.id).joined(separator: "\n"), forKey: .applied)
        let withActions = appliedEvents.filter { !$0.actions.isEmpty }
        if !withActions.isEmpty { try c.encode(withActions, forKey: .appliedActions) }
    }

    /// Players online now (the contract's `online_players`).
    public var onlinePlayers: Int { players.values.filter(\.online).count }

    /// Names of the characters online, sorted.
    public var onlineNames: [String] { players.filter(\.value.online).map(\.key).sorted() }

    /// True when `eventID` was applied recently.
    public func hasApplied(_ eventID: String) -> Bool { appliedEvents.contains { $0.id == eventID } }

    /// The actions recorded for an applied event.
    public func actions(for eventID: String) -> [Action]? { appliedEvents.last { $0.id == eventID }?.actions }

    /// Records an applied event, dropping the oldest beyond the ring size.
    public mutating func recordApplied(_ eventID: String, actions: [Action]) {
        appliedEvents.append(AppliedEvent(id: eventID, actions: actions))
        if appliedEvents.count > Self.appliedRingSize { appliedEvents.removeFirst(appliedEvents.count - Self.appliedRingSize) }
        // Older entries keep only their id — except those that scale the host (rare, and the ones a crash
        // must not lose: a start or stop, with its timer).
        let trimmed = appliedEvents.count - Self.actionsKept - 1
        if trimmed >= 0, !appliedEvents[trimmed].actions.isEmpty,
            !appliedEvents[trimmed].actions.contains(where: { if case .scale = $0 { return true } else { return false } })
        {
            appliedEvents[trimmed].actions = []
        }
    }

    /// The summary operators and scripts read (`skald state --json`).
    public var summary: Summary {
        Summary(
            server: server, status: status, ip: ip, online_players: onlinePlayers, players: onlineNames,
            startedAt: startedAt, readyAt: readyAt, idleSince: idleSince, lastSavedAt: lastSavedAt, joinCode: joinCode,
            generation: generation, updatedAt: updatedAt, etag: nil)
    }

    /// The operator view of a state record.
    public struct Summary: Sendable, Codable, Equatable {
        public var server: String
        public var status: ServerStatus
        public var ip: String?
        public var online_players: Int
        public var players: [String]
        public var startedAt: Date?
        public var readyAt: Date?
        public var idleSince: Date?
        public var lastSavedAt: Date?
        public var joinCode: String?
        public var generation: Int
        public var updatedAt: Date?
        public var etag: String?

        enum CodingKeys: String, CodingKey {
            case server, status, ip, online_players, players, startedAt, readyAt, idleSince, lastSavedAt, joinCode
            case generation, updatedAt, etag
        }

        /// Encodes every contract field, `ip` as `null` when unknown (scripts may rely on the key).
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(server, forKey: .server)
            try c.encode(status, forKey: .status)
            try c.encode(ip, forKey: .ip)
            try c.encode(online_players, forKey: .online_players)
            try c.encode(players, forKey: .players)
            try c.encodeIfPresent(startedAt, forKey: .startedAt)
            try c.encodeIfPresent(readyAt, forKey: .readyAt)
            try c.encodeIfPresent(idleSince, forKey: .idleSince)
            try c.encodeIfPresent(lastSavedAt, forKey: .lastSavedAt)
            try c.encodeIfPresent(joinCode, forKey: .joinCode)
            try c.encode(generation, forKey: .generation)
            try c.encodeIfPresent(updatedAt, forKey: .updatedAt)
            try c.encode(etag, forKey: .etag)
        }
    }
}
