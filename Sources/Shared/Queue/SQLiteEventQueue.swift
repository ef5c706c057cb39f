import Foundation
import Synchronization

/// The embedded events queue: one SQLite file in WAL mode, safe for several processes at once.
///
/// Every operation is one transaction, so a process killed mid-way (even by SIGKILL) leaves either all of an
/// operation or none of it. A receive takes the write lock (`BEGIN IMMEDIATE`) only when a cheap read found
/// something visible, so idle consumers polling the file do not contend with senders.
public final class SQLiteEventQueue: EventQueue {
    /// Settings.
    public struct Options: Sendable {
        /// The queue's name inside the file (several queues can share one file).
        public var name = "events"
        /// How long a sent event id is remembered for deduplication (seconds).
        public var deduplicationWindow: Double = 24 * 3600
        /// How often idle consumers look for messages sent by other processes (seconds).
        public var pollInterval: Double = 0.05
        /// How long an operation waits for another process's lock before failing as transient. The API keeps
        /// this short so that a stuck lock still lets it answer inside Discord's 3-second deadline.
        public var busyTimeoutMilliseconds: Int32 = 5000

        /// The defaults.
        public init() {}
    }

    private let executor: SQLiteExecutor
    private let options: Options
    private let clock: any WallClock
    private let wakeups: Broadcast
    private let sendsSincePrune = Atomic<Int>(0)
    /// The file path.
    public let path: String

    /// Opens (creating if needed) the queue in the SQLite file at `path`.
    public init(path: String, options: Options = Options(), clock: any WallClock = SystemClock()) throws {
        self.path = path
        self.options = options
        self.clock = clock
        executor = try SQLiteExecutor(path: path, label: "skald.queue", busyTimeoutMilliseconds: options.busyTimeoutMilliseconds) { db in
            try db.transaction {
                try db.execute(
                    """
                    CREATE TABLE IF NOT EXISTS queue_messages (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        queue TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        body BLOB NOT NULL,
                        enqueued_at REAL NOT NULL,
                        visible_at REAL NOT NULL,
                        dequeue_count INTEGER NOT NULL DEFAULT 0,
                        receipt TEXT
                    );
                    CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages(queue, visible_at);
                    CREATE TABLE IF NOT EXISTS queue_dedup (
                        queue TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        expires_at REAL NOT NULL,
                        PRIMARY KEY (queue, event_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS queue_dedup_expiry ON queue_dedup(expires_at);
                    CREATE TABLE IF NOT EXISTS queue_poison (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        queue TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        body BLOB NOT NULL,
                        reason TEXT NOT NULL,
                        dequeue_count INTEGER NOT NULL,
                        enqueued_at REAL NOT NULL,
                        poisoned_at REAL NOT NULL
                    );
                    """)
            }
        }
        wakeups = LocalWakeups.broadcast(for: path + "#" + options.name)
    }

    /// `sqlite:<path>#<queue>`.
    public var backendDescription: String { "sqlite:\(path)#\(options.name)" }

    /// Sends one message (deduplicated by event id).
    public func send(_ body: [UInt8], eventID: String, delay: Double) async throws -> SendOutcome {
        try await sendMany([(body, eventID, delay)])[0]
    }

    /// Sends several messages in one transaction.
    public func sendBatch(_ messages: [(body: [UInt8], eventID: String)]) async throws -> [SendOutcome] {
        try await sendMany(messages.map { ($0.body, $0.eventID, 0) })
    }

    private func sendMany(_ items: [([UInt8], String, Double)]) async throws -> [SendOutcome] {
        guard !items.isEmpty else { return [] }
        let prepared = try prepare(items)
        let outcomes = try await guarded {
            try await self.executor.run { db in try Self.insert(prepared, into: db) }
        }
        if outcomes.contains(.enqueued) { wakeups.fire() }
        return outcomes
    }

    /// Sends envelopes from a thread that may block (the log watcher's), without a hop through the
    /// concurrency pool.
    public func sendBlocking(_ envelopes: [EventEnvelope]) throws -> [SendOutcome] {
        guard !envelopes.isEmpty else { return [] }
        let prepared = try prepare(envelopes.map { ($0.encoded(), $0.id, 0) })
        let outcomes: [SendOutcome]
        do {
            outcomes = try executor.runSync { db in try Self.insert(prepared, into: db) }
        } catch let e as SQLiteError {
            throw QueueError.transient(e.isBusy ? "the queue file is locked by another process" : "sqlite failure", underlying: e)
        }
        if outcomes.contains(.enqueued) { wakeups.fire() }
        return outcomes
    }

    private struct PreparedSend: Sendable {
        var items: [([UInt8], String, Double)]
        var now: Double
        var name: String
        var window: Double
        var prune: Bool
    }

    private func prepare(_ items: [([UInt8], String, Double)]) throws -> PreparedSend {
        for (body, id, _) in items {
            if id.isEmpty { throw QueueError.permanent("empty event id") }
            if body.count > 1 << 20 { throw QueueError.permanent("message larger than 1 MiB") }
        }
        let prune = sendsSincePrune.wrappingAdd(items.count, ordering: .relaxed).newValue >= 1000
        if prune { sendsSincePrune.store(0, ordering: .relaxed) }
        return PreparedSend(
            items: items, now: clock.now().timeIntervalSince1970, name: options.name, window: options.deduplicationWindow,
            prune: prune)
    }

    private static func insert(_ p: PreparedSend, into db: SQLiteDatabase) throws -> [SendOutcome] {
        try db.transaction { () -> [SendOutcome] in
            if p.prune {
                try db.run("DELETE FROM queue_dedup WHERE queue = ? AND expires_at < ?", [.text(p.name), .double(p.now)])
            }
            var outcomes: [SendOutcome] = []
            for (body, id, delay) in p.items {
                // Remember the id; an unexpired entry means this event was sent already.
                let fresh = try db.run(
                    """
                    INSERT INTO queue_dedup(queue, event_id, expires_at) VALUES (?, ?, ?)
                    ON CONFLICT(queue, event_id) DO UPDATE SET expires_at = excluded.expires_at
                    WHERE queue_dedup.expires_at < ?
                    """, [.text(p.name), .text(id), .double(p.now + p.window), .double(p.now)])
                guard fresh > 0 else {
                    outcomes.append(.duplicate)
                    continue
                }
                try db.run(
                    """
                    INSERT INTO queue_messages(queue, event_id, body, enqueued_at, visible_at)
                    VALUES (?, ?, ?, ?, ?)
                    """, [.text(p.name), .text(id), .blob(body), .double(p.now), .double(p.now + max(0, delay))])
                outcomes.append(.enqueued)
            }
            return outcomes
        }
    }

    /// Receives up to `max` visible messages and hides them for `visibilityTimeout` seconds.
    public func receive(max: Int, visibilityTimeout: Double) async throws -> [QueueMessage] {
        let now = clock.now().timeIntervalSince1970
        let name = options.name
        let limit = Int64(Swift.max(1, Swift.min(max, 256)))
        return try await guarded {
            try await self.executor.run { db -> [QueueMessage] in
                // A cheap read first: most polls of an idle queue end here, without taking the write lock.
                let any = try db.first(
                    "SELECT 1 FROM queue_messages WHERE queue = ? AND visible_at <= ? LIMIT 1",
                    [.text(name), .double(now)]) { _ in true }
                guard any == true else { return [] }
                return try db.transaction {
                    var rows: [(Int64, String, [UInt8], Double, Int)] = []
                    try db.query(
                        """
                        SELECT seq, event_id, body, enqueued_at, dequeue_count FROM queue_messages
                        WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?
                        """, [.text(name), .double(now), .int(limit)]
                    ) { r in
                        rows.append((r.int(0), r.text(1) ?? "", r.blob(2), r.double(3), Int(r.int(4))))
                    }
                    var messages: [QueueMessage] = []
                    for (seq, eventID, body, enqueuedAt, count) in rows {
                        let receipt = "\(seq):" + SecureRandom.hex(8)
                        try db.run(
                            "UPDATE queue_messages SET visible_at = ?, dequeue_count = ?, receipt = ? WHERE seq = ?",
                            [.double(now + visibilityTimeout), .int(Int64(count + 1)), .text(receipt), .int(seq)])
                        messages.append(
                            QueueMessage(
                                messageID: String(seq), eventID: eventID, body: body, receipt: receipt,
                                dequeueCount: count + 1, enqueuedAt: Date(timeIntervalSince1970: enqueuedAt)))
                    }
                    return messages
                }
            }
        }
    }

    /// Deletes a message the receipt still owns.
    public func delete(_ message: QueueMessage) async throws {
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.run("DELETE FROM queue_messages WHERE seq = ? AND receipt = ?", Self.key(message))
            }
        }
        if changed == 0 { throw QueueError.receiptStale }
    }

    /// Makes a message visible again after `delay` seconds.
    public func release(_ message: QueueMessage, delay: Double) async throws {
        let visibleAt = clock.now().timeIntervalSince1970 + max(0, delay)
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.run(
                    "UPDATE queue_messages SET visible_at = ?, receipt = NULL WHERE seq = ? AND receipt = ?",
                    [.double(visibleAt)] + Self.key(message))
            }
        }
        if changed == 0 { throw QueueError.receiptStale }
        if delay <= 0 { wakeups.fire() }
    }

    /// Extends the message's invisibility (heartbeat).
    public func renew(_ message: QueueMessage, visibilityTimeout: Double) async throws {
        let visibleAt = clock.now().timeIntervalSince1970 + max(0, visibilityTimeout)
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.run(
                    "UPDATE queue_messages SET visible_at = ? WHERE seq = ? AND receipt = ?",
                    [.double(visibleAt)] + Self.key(message))
            }
        }
        if changed == 0 { throw QueueError.receiptStale }
    }

    /// Moves a message to the poison queue, keeping the reason.
    public func poison(_ message: QueueMessage, reason: String) async throws {
        let now = clock.now().timeIntervalSince1970
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.transaction {
                    let moved = try db.run(
                        """
                        INSERT INTO queue_poison(queue, event_id, body, reason, dequeue_count, enqueued_at, poisoned_at)
                        SELECT queue, event_id, body, ?, dequeue_count, enqueued_at, ? FROM queue_messages
                        WHERE seq = ? AND receipt = ?
                        """, [.text(reason), .double(now)] + Self.key(message))
                    if moved > 0 {
                        try db.run("DELETE FROM queue_messages WHERE seq = ? AND receipt = ?", Self.key(message))
                    }
                    return moved
                }
            }
        }
        if changed == 0 { throw QueueError.receiptStale }
    }

    /// Records a message that could not be enqueued at all.
    public func poisonUnsent(_ body: [UInt8], eventID: String, reason: String) async throws {
        let now = clock.now().timeIntervalSince1970
        let name = options.name
        _ = try await guarded {
            try await self.executor.run { db in
                try db.run(
                    """
                    INSERT INTO queue_poison(queue, event_id, body, reason, dequeue_count, enqueued_at, poisoned_at)
                    VALUES (?, ?, ?, ?, 0, ?, ?)
                    """, [.text(name), .text(eventID), .blob(body), .text(reason), .double(now), .double(now)])
            }
        }
    }

    /// Waits for a local send, another process's send (polled), or `timeout`.
    public func waitForMessages(timeout: Double) async {
        await wakeups.wait(timeout: min(timeout, options.pollInterval))
    }

    /// The generation of local sends, for `waitForMessages(after:timeout:)`.
    public var sendGeneration: UInt64 { wakeups.generation }

    /// Like `waitForMessages(timeout:)`, but returns at once if a local send happened after `generation`.
    public func waitForMessages(after generation: UInt64, timeout: Double) async {
        await wakeups.wait(after: generation, timeout: min(timeout, options.pollInterval))
    }

    /// Checks the file can be read.
    public func ping() async throws {
        _ = try await guarded {
            try await self.executor.run { db in try db.first("SELECT count(*) FROM queue_messages LIMIT 1") { $0.int(0) } }
        }
    }

    /// Message counts.
    public func stats() async throws -> QueueStats {
        let now = clock.now().timeIntervalSince1970
        let name = options.name
        return try await guarded {
            try await self.executor.run { db in
                let counts =
                    try db.first(
                        """
                        SELECT
                          coalesce(sum(visible_at <= ?1), 0),
                          coalesce(sum(visible_at > ?1 AND receipt IS NULL), 0),
                          coalesce(sum(visible_at > ?1 AND receipt IS NOT NULL), 0)
                        FROM queue_messages WHERE queue = ?2
                        """, [.double(now), .text(name)]
                    ) { r in (Int(r.int(0)), Int(r.int(1)), Int(r.int(2))) } ?? (0, 0, 0)
                let poisoned =
                    try db.first("SELECT count(*) FROM queue_poison WHERE queue = ?", [.text(name)]) { Int($0.int(0)) }
                    ?? 0
                return QueueStats(ready: counts.0, delayed: counts.1, inFlight: counts.2, poisoned: poisoned)
            }
        }
    }

    /// The newest poisoned messages.
    public func poisoned(limit: Int) async throws -> [PoisonedMessage] {
        let name = options.name
        return try await guarded {
            try await self.executor.run { db in
                var out: [PoisonedMessage] = []
                try db.query(
                    """
                    SELECT seq, event_id, body, reason, dequeue_count, poisoned_at FROM queue_poison
                    WHERE queue = ? ORDER BY seq DESC LIMIT ?
                    """, [.text(name), .int(Int64(limit))]
                ) { r in
                    out.append(
                        PoisonedMessage(
                            id: String(r.int(0)), eventID: r.text(1) ?? "", body: String(decoding: r.blob(2), as: UTF8.self),
                            reason: r.text(3) ?? "", dequeueCount: Int(r.int(4)),
                            poisonedAt: Date(timeIntervalSince1970: r.double(5))))
                }
                return out
            }
        }
    }

    /// Moves a poisoned message back onto the queue (after the cause was fixed). Returns false if not found.
    public func requeuePoisoned(id: String) async throws -> Bool {
        guard let seq = Int64(id) else { return false }
        let now = clock.now().timeIntervalSince1970
        let moved = try await guarded {
            try await self.executor.run { db in
                try db.transaction {
                    let n = try db.run(
                        """
                        INSERT INTO queue_messages(queue, event_id, body, enqueued_at, visible_at)
                        SELECT queue, event_id, body, enqueued_at, ? FROM queue_poison WHERE seq = ?
                        """, [.double(now), .int(seq)])
                    if n > 0 { try db.run("DELETE FROM queue_poison WHERE seq = ?", [.int(seq)]) }
                    return n > 0
                }
            }
        }
        if moved { wakeups.fire() }
        return moved
    }

    private static func key(_ message: QueueMessage) -> [SQLiteValue] {
        [.int(Int64(message.messageID) ?? -1), .text(message.receipt)]
    }

    /// Maps SQLite failures to queue errors that say what to do.
    private func guarded<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as SQLiteError {
            if e.isBusy { throw QueueError.transient("the queue file is locked by another process", underlying: e) }
            throw QueueError.transient("sqlite failure", underlying: e)
        }
    }
}

/// In-process wake-ups: every queue instance on the same file and queue shares one broadcast, so a consumer
/// hears a send from the same process at once instead of at its next poll.
enum LocalWakeups {
    private static let registry = Mutex<[String: Broadcast]>([:])

    static func broadcast(for key: String) -> Broadcast {
        registry.withLock { r in
            if let b = r[key] { return b }
            let b = Broadcast()
            r[key] = b
            return b
        }
    }
}
