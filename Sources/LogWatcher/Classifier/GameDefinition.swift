import CLinux
import Foundation
import Shared

/// One event a classifier yields: what happened, the line it came from, and whatever the line tells.
public struct ClassifiedEvent: Sendable, Equatable, Codable {
    /// `ready`, `join`, `leave`, `connecting`, `saved`, `shutdown`, `wrong_password`, `join_code`, …
    public var event: String
    /// The line that produced it (capped, invalid UTF-8 replaced).
    public var line: String
    /// The time written in the line, when it has one.
    public var time: Date?
    /// Character name, when known.
    public var player: String?
    /// Platform id (SteamID, `Steam_…`, `Xbox_…`), when known.
    public var platformID: String?
    /// Crossplay join code, for `join_code`.
    public var code: String?
    /// Players online according to the game, when the line says (crossplay departures).
    public var count: Int?

    /// Creates an event.
    public init(
        event: String, line: String, time: Date?, player: String? = nil, platformID: String? = nil, code: String? = nil,
        count: Int? = nil
    ) {
        self.event = event
        self.line = line
        self.time = time
        self.player = player
        self.platformID = platformID
        self.code = code
        self.count = count
    }
}

/// What a game definition reports for one line, before the core attaches the line text.
public struct GameSignal: Sendable, Equatable {
    /// The event name.
    public var event: LogEventName
    /// Character name.
    public var player: String?
    /// Platform id.
    public var platformID: String?
    /// Join code.
    public var code: String?
    /// Players online according to the game.
    public var count: Int?

    /// Creates a signal.
    public init(_ event: LogEventName, player: String? = nil, platformID: String? = nil, code: String? = nil, count: Int? = nil) {
        self.event = event
        self.player = player
        self.platformID = platformID
        self.code = code
        self.count = count
    }
}

/// A game's log language: where the message and time are in a line, and what a sequence of messages means.
///
/// This is the seam for other games: a new game is a new definition (with its own small, serialisable state),
/// not an edit to `StreamClassifier`.
public protocol GameDefinition: Sendable {
    /// What the definition remembers between lines (saved with the watcher's cursor, so keep it small).
    associatedtype State: Codable & Sendable & Equatable

    /// The game's name (`valheim`).
    static var name: String { get }

    /// The state before the first line.
    static func initialState() -> State

    /// Interprets one line (no terminator, capped). Appends what it means to `signals` and returns the time
    /// written in the line (its wall-clock reading, as if UTC), if it has one and produced a signal.
    static func interpret(_ line: UnsafeBufferPointer<UInt8>, state: inout State, signals: inout [GameSignal]) -> Date?
}

/// The stream classifier: reads lines in order and yields events, keeping the game definition's state.
///
/// It handles what every game's log shares — CRLF line ends, blank and very long lines (capped), invalid
/// UTF-8 — and leaves the meaning to the `GameDefinition`.
public struct StreamClassifier<Game: GameDefinition>: Sendable {
    /// The definition's state; saved with the watcher's cursor.
    public var state: Game.State
    /// Bytes of a line that are looked at and kept in events; the rest of a longer line is ignored.
    public var maxLineBytes: Int
    /// The zone the game writes its clock in (game logs carry local time without an offset); nil reads the
    /// times as UTC.
    public var timeZone: TimeZone?
    private var signals: [GameSignal] = []

    /// Creates a classifier, optionally resuming from a saved state.
    public init(state: Game.State = Game.initialState(), maxLineBytes: Int = 4096, timeZone: TimeZone? = nil) {
        self.state = state
        self.maxLineBytes = maxLineBytes
        self.timeZone = timeZone
    }

    /// Classifies one line (with or without its `\n` / `\r\n`), appending events to `out`.
    public mutating func classify(_ line: UnsafeBufferPointer<UInt8>, into out: inout [ClassifiedEvent]) {
        var n = min(line.count, maxLineBytes)
        while n > 0, line[n - 1] == 0x0A || line[n - 1] == 0x0D { n -= 1 }
        guard n > 0, let base = line.baseAddress else { return }
        let trimmed = UnsafeBufferPointer(start: base, count: n)
        signals.removeAll(keepingCapacity: true)
        var time = Game.interpret(trimmed, state: &state, signals: &signals)
        guard !signals.isEmpty else { return }
        if let t = time, let zone = timeZone {
            // The line's wall-clock time, read as UTC, back to the instant it names.
            time = t.addingTimeInterval(-Double(zone.secondsFromGMT(for: t)))
        }
        let text = String(decoding: trimmed, as: UTF8.self)
        for s in signals {
            out.append(
                ClassifiedEvent(
                    event: s.event.rawValue, line: text, time: time, player: s.player, platformID: s.platformID, code: s.code,
                    count: s.count))
        }
    }

    /// Classifies one line given as bytes.
    public mutating func classify(_ line: ArraySlice<UInt8>) -> [ClassifiedEvent] {
        var out: [ClassifiedEvent] = []
        line.withUnsafeBufferPointer { classify($0, into: &out) }
        return out
    }

    /// Classifies one line given as text.
    public mutating func classify(_ line: String) -> [ClassifiedEvent] {
        classify(ArraySlice(line.utf8))
    }
}

/// Byte-level helpers for fast matching without allocating.
enum Bytes {
    /// True when `p[i...]` starts with `literal`.
    @inline(__always)
    static func has(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i >= 0, i + n <= p.count else { return false }
        return memcmp(p.baseAddress! + i, literal.utf8Start, n) == 0
    }

    /// The index of `literal` in `p[from..<to]`, or nil.
    static func find(_ p: UnsafeBufferPointer<UInt8>, _ literal: StaticString, from: Int, to: Int? = nil) -> Int? {
        let end = to ?? p.count
        let n = literal.utf8CodeUnitCount
        guard from >= 0, end - from >= n else { return nil }
        guard let r = memmem(p.baseAddress! + from, end - from, literal.utf8Start, n) else { return nil }
        return p.baseAddress!.distance(to: r.assumingMemoryBound(to: UInt8.self))
    }

    /// The last index of `literal` in `p[from..<to]`, or nil.
    static func findLast(_ p: UnsafeBufferPointer<UInt8>, _ literal: StaticString, from: Int, to: Int) -> Int? {
        let n = literal.utf8CodeUnitCount
        var i = to - n
        while i >= from {
            if memcmp(p.baseAddress! + i, literal.utf8Start, n) == 0 { return i }
            i -= 1
        }
        return nil
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Parses an optionally negative decimal integer at `i`; returns the value and the index after it.
    static func integer(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, end: Int) -> (Int64, Int)? {
        var j = i
        var negative = false
        if j < end, p[j] == UInt8(ascii: "-") {
            negative = true
            j += 1
        }
        let start = j
        var v: Int64 = 0
        while j < end, isDigit(p[j]) {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(p[j] - 0x30))
            if o1 || o2 { return nil }  // not a number this game writes: no match
            v = a
            j += 1
        }
        guard j > start else { return nil }
        return (negative ? -v : v, j)
    }

    /// `p[from..<to]` as a String.
    static func string(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        guard to > from else { return "" }
        return String(decoding: UnsafeBufferPointer(rebasing: p[from..<to]), as: UTF8.self)
    }

    /// The token (non-space run) starting at `from`, as a String, and its end.
    static func token(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, end: Int) -> (String, Int)? {
        var j = from
        while j < end, p[j] != 0x20, p[j] != 0x09 { j += 1 }
        guard j > from else { return nil }
        return (string(p, from, j), j)
    }
}
