import Foundation
import Shared

/// Valheim's dedicated-server log (Steam and crossplay modes, plain or behind the community container's
/// supervisord prefix).
///
/// Identity: the platform id is known when a client connects, the character name when it spawns, and
/// nothing in one line ties them together — so the next spawn after a connect is bound to that connection.
/// A spawn of a character already in a session (death and respawn) is not a join; `: 0:0` is a death. One
/// departure logs several lines (`RPC_Disconnect`, `Destroying abandoned … owner X`, `Closing socket`); the
/// first that names a session makes the one `leave`, the rest are absorbed. A wrong-password connection is
/// nobody.
public enum Valheim: GameDefinition {
    /// `valheim`.
    public static let name = "valheim"

    /// One character in the game.
    public struct Session: Codable, Sendable, Equatable {
        /// Character name.
        public var name: String
        /// The first ZDOID number: the peer's id, which also owns the zdos destroyed when it leaves.
        public var owner: Int64
        /// Platform id from the connection the spawn was bound to.
        public var platformID: String?
    }

    /// What the classifier remembers between lines (bounded).
    public struct State: Codable, Sendable, Equatable {
        /// Connections not yet bound to a character, oldest first.
        public var pending: [String] = []
        /// Wrong-password connections whose `Closing socket` is nobody's departure.
        public var rejected: [String] = []
        /// Characters in the game.
        public var sessions: [Session] = []
        /// Platform ids whose departure was already reported (their `Closing socket` is absorbed).
        public var departed: [String] = []
        /// A shutdown was reported (its second line is absorbed).
        public var shuttingDown = false

        /// The empty state.
        public init() {}

        mutating func remember(_ value: String, in list: WritableKeyPath<State, [String]>, limit: Int = 64) {
            self[keyPath: list].removeAll { $0 == value }
            self[keyPath: list].append(value)
            if self[keyPath: list].count > limit { self[keyPath: list].removeFirst(self[keyPath: list].count - limit) }
        }

        @discardableResult
        mutating func forget(_ value: String, in list: WritableKeyPath<State, [String]>) -> Bool {
            guard let i = self[keyPath: list].firstIndex(of: value) else { return false }
            self[keyPath: list].remove(at: i)
            return true
        }

        mutating func reset() {
            pending = []
            rejected = []
            sessions = []
            departed = []
        }
    }

    /// The empty state.
    public static func initialState() -> State { State() }

    /// Length of `MM/DD/YYYY HH:MM:SS: `.
    static let timestampLength = 21

    /// Interprets one line.
    public static func interpret(_ p: UnsafeBufferPointer<UInt8>, state: inout State, signals: inout [GameSignal]) -> Date? {
        let end = p.count
        var m: Int
        let ts = findTimestamp(p)
        if let ts {
            m = ts + timestampLength
        } else {
            // No game timestamp: a wrapper line, or a log without timestamps. Skip a supervisord prefix and
            // match the message at its start only (so "DEBUG - Server is now listening" never counts).
            m = messageStartWithoutTimestamp(p)
        }
        while m < end, p[m] == 0x20 || p[m] == 0x09 { m += 1 }
        var e = end
        while e > m, p[e - 1] == 0x20 || p[e - 1] == 0x09 { e -= 1 }
        guard m < e else { return nil }
        let before = signals.count
        interpretMessage(p, m, e, state: &state, signals: &signals)
        guard signals.count > before, let ts else { return nil }
        return parseTimestamp(p, ts)
    }

    // MARK: message grammar

    private static func interpretMessage(
        _ p: UnsafeBufferPointer<UInt8>, _ m: Int, _ e: Int, state: inout State, signals: inout [GameSignal]
    ) {
        switch p[m] {
        case UInt8(ascii: "G"):
            if Bytes.has(p, m, "Game server connected") {
                // End-anchored: "Game server connected failed" means the opposite.
                if e - m == 21 {
                    signals.append(GameSignal(.ready))
                    state.shuttingDown = false
                }
            } else if Bytes.has(p, m, "Got connection SteamID ") {
                guard let (id, _) = Bytes.token(p, m + 23, end: e) else { return }
                connect(id, state: &state, signals: &signals)
            } else if Bytes.has(p, m, "Got character ZDOID from ") {
                spawn(p, m + 25, e, state: &state, signals: &signals)
            }
        case UInt8(ascii: "P"):
            if Bytes.has(p, m, "Peer "), let at = Bytes.find(p, " has wrong password", from: m + 5, to: e) {
                let id = Bytes.string(p, m + 5, at)
                state.forget(id, in: \.pending)
                state.remember(id, in: \.rejected)
                signals.append(GameSignal(.wrongPassword, platformID: id))
            } else if Bytes.has(p, m, "PlayFab socket with remote ID "),
                let at = Bytes.find(p, "received local Platform ID ", from: m + 30, to: e)
            {
                guard let (id, _) = Bytes.token(p, at + 27, end: e) else { return }
                connect(id, state: &state, signals: &signals)
            } else if Bytes.has(p, m, "Player connection lost server "),
                let at = Bytes.findLast(p, ", now ", from: m, to: e), let (count, _) = Bytes.integer(p, at + 6, end: e)
            {
                // Crossplay departures are named by their "Destroying abandoned" line, which comes first. If the
                // game counts fewer players than the sessions known: at zero everyone left (name them all);
                // otherwise say someone left, with the count, rather than guess who.
                if count == 0 {
                    for s in state.sessions {
                        if let id = s.platformID { state.remember(id, in: \.departed, limit: 16) }
                        signals.append(GameSignal(.leave, player: s.name, platformID: s.platformID, count: 0))
                    }
                    state.sessions = []
                } else if state.sessions.count > Int(count) {
                    signals.append(GameSignal(.leave, count: Int(count)))
                }
            }
        case UInt8(ascii: "D"):
            if Bytes.has(p, m, "Destroying abandoned non persistent zdo "),
                let at = Bytes.find(p, " owner ", from: m + 40, to: e), let (owner, _) = Bytes.integer(p, at + 7, end: e),
                let i = state.sessions.firstIndex(where: { $0.owner == owner })
            {
                let s = state.sessions.remove(at: i)
                if let id = s.platformID { state.remember(id, in: \.departed, limit: 16) }
                signals.append(GameSignal(.leave, player: s.name, platformID: s.platformID))
            }
        case UInt8(ascii: "C"):
            if Bytes.has(p, m, "Closing socket "), let (id, _) = Bytes.token(p, m + 15, end: e) {
                if state.forget(id, in: \.rejected) || state.forget(id, in: \.departed) || state.forget(id, in: \.pending) {
                    return
                }
                if let i = state.sessions.firstIndex(where: { $0.platformID == id }) {
                    let s = state.sessions.remove(at: i)
                    signals.append(GameSignal(.leave, player: s.name, platformID: id))
                }
            }
        case UInt8(ascii: "W"):
            if Bytes.has(p, m, "World saved") || (Bytes.has(p, m, "World save (") && Bytes.find(p, ") done", from: m, to: e) != nil) {
                signals.append(GameSignal(.saved))
            }
        case UInt8(ascii: "O"):
            if Bytes.has(p, m, "OnApplicationQuit") { shutdown(state: &state, signals: &signals) }
        case UInt8(ascii: "S"):
            if Bytes.has(p, m, "Steam manager on destroy") {
                shutdown(state: &state, signals: &signals)
            } else if Bytes.has(p, m, "Session \""), let at = Bytes.find(p, "\" registered with join code ", from: m + 9, to: e),
                let (code, _) = Bytes.token(p, at + 28, end: e)
            {
                signals.append(GameSignal(.joinCode, code: code))
            }
        case UInt8(ascii: "L"):
            if Bytes.has(p, m, "Load world: ") {
                // A new server run: nothing from an earlier one carries over.
                state.reset()
                state.shuttingDown = false
                signals.append(GameSignal(.worldLoaded))
            }
        default:
            return
        }
    }

    private static func connect(_ id: String, state: inout State, signals: inout [GameSignal]) {
        state.forget(id, in: \.departed)
        state.forget(id, in: \.rejected)
        state.remember(id, in: \.pending)
        signals.append(GameSignal(.connecting, platformID: id))
    }

    /// `Got character ZDOID from <name> : <owner>:<n>`.
    private static func spawn(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ e: Int, state: inout State, signals: inout [GameSignal]) {
        guard let sep = Bytes.findLast(p, " : ", from: from, to: e), sep > from,
            let (owner, after) = Bytes.integer(p, sep + 3, end: e), after < e, p[after] == UInt8(ascii: ":"),
            let (second, _) = Bytes.integer(p, after + 1, end: e)
        else { return }
        // `: 0:0` is a death, not a character arriving.
        if owner == 0 && second == 0 { return }
        let name = Bytes.string(p, from, sep)
        if let i = state.sessions.firstIndex(where: { $0.name == name }) {
            // A respawn (after a death) or a repeated line: the same session.
            state.sessions[i].owner = owner
            return
        }
        let id = state.pending.isEmpty ? nil : state.pending.removeFirst()
        state.sessions.append(Session(name: name, owner: owner, platformID: id))
        if state.sessions.count > 256 { state.sessions.removeFirst() }
        signals.append(GameSignal(.join, player: name, platformID: id))
    }

    private static func shutdown(state: inout State, signals: inout [GameSignal]) {
        guard !state.shuttingDown else { return }
        state.shuttingDown = true
        state.reset()
        signals.append(GameSignal(.shutdown))
    }

    // MARK: line shape

    /// The index of the `MM/DD/YYYY HH:MM:SS: ` timestamp within the first 160 bytes, or nil.
    static func findTimestamp(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        let limit = min(p.count, 160)
        var from = 0
        while from < limit {
            guard let hit = memchr(p.baseAddress! + from, Int32(UInt8(ascii: "/")), limit - from) else { return nil }
            let slash = p.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            let start = slash - 2
            if start >= 0, isTimestamp(p, start) { return start }
            from = slash + 1
        }
        return nil
    }

    @inline(__always)
    private static func isTimestamp(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i + timestampLength <= p.count else { return false }
        let d = Bytes.isDigit
        return d(p[i]) && d(p[i + 1]) && p[i + 2] == 0x2F && d(p[i + 3]) && d(p[i + 4]) && p[i + 5] == 0x2F && d(p[i + 6])
            && d(p[i + 7]) && d(p[i + 8]) && d(p[i + 9]) && p[i + 10] == 0x20 && d(p[i + 11]) && d(p[i + 12])
            && p[i + 13] == 0x3A && d(p[i + 14]) && d(p[i + 15]) && p[i + 16] == 0x3A && d(p[i + 17]) && d(p[i + 18])
            && p[i + 19] == 0x3A && p[i + 20] == 0x20
    }

    /// The timestamp at `i`, read as UTC (the classifier core applies the game's time zone).
    static func parseTimestamp(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Date? {
        func two(_ j: Int) -> Int { Int(p[j] - 0x30) * 10 + Int(p[j + 1] - 0x30) }
        let month = two(i)
        let day = two(i + 3)
        let year = two(i + 6) * 100 + two(i + 8)
        let hour = two(i + 11)
        let minute = two(i + 14)
        let second = two(i + 17)
        guard (1...12).contains(month), (1...Timestamp.daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
            second < 61
        else { return nil }
        return Date(
            timeIntervalSince1970: Double(
                Timestamp.unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)))
    }

    /// Where the message starts in a line without a game timestamp: after a supervisord prefix
    /// (`… /supervisord: <program> `), else at the start.
    private static func messageStartWithoutTimestamp(_ p: UnsafeBufferPointer<UInt8>) -> Int {
        guard let at = Bytes.find(p, "/supervisord: ", from: 0, to: min(p.count, 80)) else { return 0 }
        var j = at + 14
        while j < p.count, p[j] != 0x20 { j += 1 }
        return j
    }
}
