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

    /// True when an event at (`at`, `seq`) is newer than what this record has seen.
    public func isOlderThan(at: Date, seq: Int64?) -> Bool {
        if at != lastEventAt { return at > lastEventAt }
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
        let trimmed = appliedEvents.count - Self.actionsKept - 1
        if trimmed >= 0, !appliedEvents[trimmed].actions.isEmpty { appliedEvents[trimmed].actions = [] }
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
    }
}
