import Foundation

/// What a queue operation failure means for the caller.
public enum QueueError: Error, CustomStringConvertible {
    /// The backend is busy or unreachable right now: retry later. Keeps the underlying error.
    case transient(String, underlying: (any Error)?)
    /// The receipt no longer owns the message (its visibility timeout passed and someone else took it, or it
    /// was deleted already).
    case receiptStale
    /// The request can never succeed (too large, malformed, …).
    case permanent(String)

    /// A readable explanation (never includes message bodies).
    public var description: String {
        switch self {
        case .transient(let what, let underlying):
            "queue temporarily unavailable: \(what)" + (underlying.map { " (\($0))" } ?? "")
        case .receiptStale: "the message's receipt is stale (it was taken by another consumer or deleted)"
        case .permanent(let what): "queue request refused: \(what)"
        }
    }
}

/// A received message, owned by the receiver until its visibility timeout passes.
public struct QueueMessage: Sendable {
    /// The backend's message id.
    public var messageID: String
    /// The event id it was sent with.
    public var eventID: String
    /// The body (the event envelope's JSON).
    public var body: [UInt8]
    /// Proves ownership for delete / release / poison.
    public var receipt: String
    /// How many times it has been received, this time included (1 on first delivery).
    public var dequeueCount: Int
    /// When it was first sent.
    public var enqueuedAt: Date

    /// Creates a message.
    public init(messageID: String, eventID: String, body: [UInt8], receipt: String, dequeueCount: Int, enqueuedAt: Date) {
        self.messageID = messageID
        self.eventID = eventID
        self.body = body
        self.receipt = receipt
        self.dequeueCount = dequeueCount
        self.enqueuedAt = enqueuedAt
    }
}

/// The result of a send.
public enum SendOutcome: String, Sendable, Equatable {
    /// A new message.
    case enqueued
    /// A message with this event id was sent before (within the deduplication window); nothing was added.
    case duplicate
}

/// A message moved to the poison queue, with the reason.
public struct PoisonedMessage: Sendable, Equatable, Codable {
    /// The backend's id for the poisoned entry.
    public var id: String
    /// The event id.
    public var eventID: String
    /// The body as text (lossy for non-UTF-8 bytes).
    public var body: String
    /// Why it was poisoned.
    public var reason: String
    /// Deliveries before it was poisoned.
    public var dequeueCount: Int
    /// When it was poisoned.
    public var poisonedAt: Date
}

/// Message counts.
public struct QueueStats: Sendable, Equatable, Codable {
    /// Visible now.
    public var ready: Int
    /// Sent with a delay that has not passed.
    public var delayed: Int
    /// Received and not yet deleted (invisible until their timeout).
    public var inFlight: Int
    /// In the poison queue.
    public var poisoned: Int

    /// Creates counts.
    public init(ready: Int, delayed: Int, inFlight: Int, poisoned: Int) {
        self.ready = ready
        self.delayed = delayed
        self.inFlight = inFlight
        self.poisoned = poisoned
    }
}

/// The events queue seam: at-least-once delivery with visibility timeouts, a dequeue count and a poison queue.
///
/// Backends: SQLite (embedded default), Azure Storage Queue, SQS. Every implementation deduplicates sends by
/// event id where the backend allows it; consumers still deduplicate by id, because delivery is at least once.
public protocol EventQueue: Sendable {
    /// The backend's name for logs (`sqlite:/path`, `azure:events`, …).
    var backendDescription: String { get }

    /// Sends one message, visible after `delay` seconds.
    func send(_ body: [UInt8], eventID: String, delay: Double) async throws -> SendOutcome

    /// Sends several messages; the SQLite backend commits them atomically.
    func sendBatch(_ messages: [(body: [UInt8], eventID: String)]) async throws -> [SendOutcome]

    /// Receives up to `max` visible messages, hiding each for `visibilityTimeout` seconds.
    func receive(max: Int, visibilityTimeout: Double) async throws -> [QueueMessage]

    /// Deletes a processed message. Throws `QueueError.receiptStale` when the receipt no longer owns it.
    func delete(_ message: QueueMessage) async throws

    /// Makes a received message visible again after `delay` seconds (give it back without processing).
    func release(_ message: QueueMessage, delay: Double) async throws

    /// Extends a received message's invisibility to `visibilityTimeout` seconds from now (a heartbeat while a
    /// long operation runs). Throws `QueueError.receiptStale` when the receipt no longer owns it.
    func renew(_ message: QueueMessage, visibilityTimeout: Double) async throws

    /// Moves a received message to the poison queue with `reason`.
    func poison(_ message: QueueMessage, reason: String) async throws

    /// Puts a message that never made it onto the queue (malformed at ingest) straight into the poison queue.
    func poisonUnsent(_ body: [UInt8], eventID: String, reason: String) async throws

    /// Returns when messages may be available, or after `timeout` seconds. A cheap hint, not a guarantee.
    func waitForMessages(timeout: Double) async

    /// A counter of sends this process made (0 when the backend has no such signal); see `waitForMessages(after:timeout:)`.
    var sendGeneration: UInt64 { get }

    /// Like `waitForMessages(timeout:)`, but returns at once if a send happened after `generation` was read.
    func waitForMessages(after generation: UInt64, timeout: Double) async

    /// Checks the backend is reachable.
    func ping() async throws

    /// Message counts.
    func stats() async throws -> QueueStats

    /// The newest poisoned messages, newest first.
    func poisoned(limit: Int) async throws -> [PoisonedMessage]
}

extension EventQueue {
    /// No local send signal by default.
    public var sendGeneration: UInt64 { 0 }

    /// Falls back to the plain wait.
    public func waitForMessages(after generation: UInt64, timeout: Double) async {
        await waitForMessages(timeout: timeout)
    }

    /// Sends an event envelope, deduplicated by its id.
    @discardableResult
    public func send(_ envelope: EventEnvelope, delay: Double = 0) async throws -> SendOutcome {
        try await send(envelope.encoded(), eventID: envelope.id, delay: delay)
    }

    /// Sends several envelopes at once.
    @discardableResult
    public func send(_ envelopes: [EventEnvelope]) async throws -> [SendOutcome] {
        try await sendBatch(envelopes.map { (body: $0.encoded(), eventID: $0.id) })
    }
}
