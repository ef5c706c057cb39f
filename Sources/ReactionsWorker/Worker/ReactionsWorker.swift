import Foundation
import Shared
import Synchronization

/// How the worker consumes the queue.
public struct WorkerSettings: Sendable, Equatable {
    /// Concurrent consumers in this process.
    public var consumers = 2
    /// Messages received per call.
    public var batchSize = 4
    /// Seconds a received message stays hidden; renewed while it is being processed.
    public var visibilityTimeout: Double = 60
    /// Deliveries before a message goes to the poison queue.
    public var maxDequeueCount = 5
    /// Re-reads after an etag conflict before the message is left to come back later.
    public var maxConflictRetries = 12
    /// Longest wait for new messages between polls of an idle queue.
    public var idleWait: Double = 1

    /// The defaults.
    public init() {}
}

/// Errors that leave a message to be retried.
enum WorkerError: Error, CustomStringConvertible {
    case conflictsExhausted(Int)

    var description: String {
        switch self {
        case .conflictsExhausted(let n): "state record still changing after \(n) attempts"
        }
    }
}

/// The reactions worker: consumes the events queue, applies each event to its server's state record with
/// optimistic concurrency, and runs the side effects the brain decided once the write has committed.
///
/// Exactness under concurrency comes from three things: every write is conditional on the etag that was read
/// (a conflict re-reads and re-decides); every applied event id is recorded in the same write (a duplicate is
/// a no-op); and the actions an event decided are stored with it, so a redelivery after a crash finishes them
/// instead of deciding again.
public final class ReactionsWorker: Service {
    private let queue: any EventQueue
    private let store: any StateStore
    private let scaleSet: @Sendable (String) -> (any ScaleSet)?
    private let notifier: any Notifier
    private let brain: BrainSettings
    private let settings: WorkerSettings
    private let clock: any WallClock
    private let logger: Logger
    private let gates = KeyedGates()

    /// Creates a worker. `scaleSet` returns the game host of a server (nil: none configured).
    public init(
        queue: any EventQueue, store: any StateStore, scaleSet: @escaping @Sendable (String) -> (any ScaleSet)?,
        notifier: any Notifier, brain: BrainSettings, settings: WorkerSettings = WorkerSettings(),
        clock: any WallClock = SystemClock(), logger: Logger
    ) {
        self.queue = queue
        self.store = store
        self.scaleSet = scaleSet
        self.notifier = notifier
        self.brain = brain
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// `worker`.
    public var name: String { "worker" }

    /// Runs the consumers until shutdown; each finishes (or gives back) what it holds before returning.
    public func run(shutdown: ShutdownSignal) async throws {
        logger.info(
            "worker started",
            metadata: [
                "worker.consumers": .int(settings.consumers), "queue": .string(queue.backendDescription),
                "state": .string(store.backendDescription),
            ])
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<max(1, settings.consumers) {
                group.addTask { await self.consume(index: i, shutdown: shutdown) }
            }
        }
        logger.info("worker stopped")
    }

    private func consume(index: Int, shutdown: ShutdownSignal) async {
        var failures = 0
        while !shutdown.isTriggered {
            let generation = queue.sendGeneration
            let batch: [QueueMessage]
            do {
                batch = try await queue.receive(max: settings.batchSize, visibilityTimeout: settings.visibilityTimeout)
                failures = 0
            } catch {
                failures += 1
                logger.error("cannot receive from the queue", metadata: ["error": .string("\(error)")])
                await shutdown.sleep(seconds: min(30, 0.2 * Double(1 << min(failures, 8))))
                continue
            }
            if batch.isEmpty {
                await queue.waitForMessages(after: generation, timeout: settings.idleWait)
                continue
            }
            // Messages waiting their turn in this batch stay hidden too (the one being processed renews itself):
            // a long host start must not let them time out and go to a second consumer.
            let waiting = WaitingMessages(batch)
            let heartbeat = Task { [queue, settings] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int(settings.visibilityTimeout * 1000 / 3)))
                    if Task.isCancelled { break }
                    // Best effort: a renewal that fails only lets the message come back later, as it would anyway.
                    for m in waiting.all { try? await queue.renew(m, visibilityTimeout: settings.visibilityTimeout) }
                }
            }
            for (i, message) in batch.enumerated() {
                if shutdown.isTriggered {
                    // Give back what this consumer has not started, so another worker takes it at once.
                    for m in batch[i...] { try? await queue.release(m, delay: 0) }
                    break
                }
                waiting.remove(message)
                await process(message)
            }
            heartbeat.cancel()
        }
    }

    /// Processes one received message to the end: applied and deleted, poisoned, or left to come back.
    public func process(_ message: QueueMessage) async {
        let envelope: EventEnvelope
        do {
            envelope = try EventEnvelope.decode(message.body)
        } catch {
            await poison(message, reason: error.description)
            return
        }
        var log = logger.with(["event.id": .string(envelope.id), "event.kind": .string(envelope.kind)])
        log.metadata["queue.dequeue_count"] = .int(message.dequeueCount)
        if message.dequeueCount > settings.maxDequeueCount {
            await poison(message, reason: "delivered \(message.dequeueCount) times without completing")
            return
        }
        let heartbeat = Task { [queue, settings] in
            // Keep the message hidden while a long action (a host start or stop) runs.
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(settings.visibilityTimeout * 1000 / 3)))
                if Task.isCancelled { break }
                try? await queue.renew(message, visibilityTimeout: settings.visibilityTimeout)
            }
        }
        defer { heartbeat.cancel() }
        do {
            try await apply(envelope, redelivered: message.dequeueCount > 1, logger: log)
        } catch {
            if message.dequeueCount >= settings.maxDequeueCount {
                await poison(message, reason: "failed \(message.dequeueCount) times; last error: \(error)")
            } else {
                log.warning("event failed; it will be retried", metadata: ["error": .string("\(error)")])
                let backoff = min(60, Double(1 << min(message.dequeueCount, 6))) * Double.random(in: 0.5...1.0)
                // If this fails too, the message still comes back when its visibility timeout passes.
                try? await queue.release(message, delay: backoff)
            }
            return
        }
        do {
            try await queue.delete(message)
        } catch {
            // Applied, but the receipt was lost: a redelivery finds the event applied and changes nothing.
            log.warning("applied but could not delete the message", metadata: ["error": .string("\(error)")])
        }
    }

    private func poison(_ message: QueueMessage, reason: String) async {
        logger.error(
            "poisoned a message", metadata: ["event.id": .string(message.eventID), "reason": .string(reason)])
        do {
            try await queue.poison(message, reason: reason)
        } catch {
            logger.error("could not poison the message", metadata: ["error": .string("\(error)")])
        }
    }

    /// Applies one event: read, decide, write if the etag still matches (else re-read and re-decide), then
    /// run the decided actions. A duplicate changes nothing; a redelivery finishes the recorded actions.
    public func apply(_ envelope: EventEnvelope, redelivered: Bool, logger log: Logger? = nil) async throws {
        let log = log ?? logger.with(["event.id": .string(envelope.id), "event.kind": .string(envelope.kind)])
        // Consumers of this process take turns on one server's record (the etag still guards against other
        // processes); the side effects run after the turn, so a long host start never holds it.
        let outcome = try await gates.gate(for: envelope.server).run { try await self.decideAndWrite(envelope, logger: log) }
        switch outcome {
        case .applied(let actions):
            try await execute(actions, for: envelope, redelivered: redelivered, logger: log)
        case .alreadyApplied(let recorded, let state):
            if redelivered, !recorded.isEmpty {
                let relevant = recorded.filter { Self.isStillRelevant($0, in: state) }
                log.info("finishing the actions of an event applied before", metadata: ["actions": .int(relevant.count)])
                try await execute(relevant, for: envelope, redelivered: true, logger: log)
            } else {
                log.debug("duplicate event: already applied")
            }
        }
    }

    private enum ApplyOutcome: Sendable {
        case applied([Action])
        case alreadyApplied([Action], ServerState)
    }

    /// Read, decide, write if the etag still matches; on a conflict re-read and re-decide (bounded, jittered).
    private func decideAndWrite(_ envelope: EventEnvelope, logger log: Logger) async throws -> ApplyOutcome {
        for attempt in 1...settings.maxConflictRetries {
            let current = try await store.get(envelope.server)
            let state = current?.state ?? ServerState(server: envelope.server)
            if state.hasApplied(envelope.id) {
                return .alreadyApplied(state.actions(for: envelope.id) ?? [], state)
            }
            let decision = Brain.decide(state, envelope, now: clock.now(), settings: brain)
            var next = decision.state
            next.recordApplied(envelope.id, actions: decision.actions)
            do {
                _ = try await store.write(next, over: current)
            } catch StateStoreError.conflict {
                log.debug("etag conflict; re-reading", metadata: ["attempt": .int(attempt)])
                // Jittered, growing pause so that contending workers spread out.
                let ceiling = min(50.0, 1.0 * Double(attempt * attempt))
                try? await Task.sleep(for: .microseconds(Int64(Double.random(in: 0...ceiling) * 1000)))
                continue
            }
            log.info(
                "applied",
                metadata: ["server": .string(envelope.server), "note": .string(decision.note), "actions": .int(decision.actions.count)])
            return .applied(decision.actions)
        }
        throw WorkerError.conflictsExhausted(settings.maxConflictRetries)
    }

    /// Whether a recorded action still makes sense now (a redelivered `/start` must not start a server that
    /// was stopped since).
    static func isStillRelevant(_ action: Action, in state: ServerState) -> Bool {
        switch action {
        case .scale(let capacity, let generation):
            if capacity > 0 { return state.generation == generation && state.status.isRunning }
            return !state.status.isRunning
        case .reply, .channel, .schedule, .console:
            return true
        }
    }

    /// Runs actions: quick ones first (timers, replies, notices), the host scale last since it can take minutes.
    private func execute(_ actions: [Action], for envelope: EventEnvelope, redelivered: Bool, logger log: Logger) async throws {
        let ordered = actions.filter { if case .scale = $0 { return false } else { return true } }
            + actions.filter { if case .scale = $0 { return true } else { return false } }
        for action in ordered {
            switch action {
            case .schedule(let timer):
                let due = timer.due.timeIntervalSince(clock.now())
                let id = Brain.timerID(server: envelope.server, timer)
                try await queue.send(EventEnvelope(id: id, at: clock.now(), server: envelope.server, payload: .timer(timer)), delay: max(0, due))
            case .reply(let interaction, let text):
                if interaction.expiresAt > clock.now() { await notifier.editReply(interaction, content: text) }
            case .channel(let text, let nonce):
                await notifier.postChannel(text, nonce: nonce)
            case .console(let text):
                await notifier.console(text)
            case .scale(let capacity, let generation):
                let detail: HostEvent.Detail
                if let host = scaleSet(envelope.server) {
                    do {
                        let result = try await host.setCapacity(capacity)
                        detail = HostEvent.Detail(
                            type: HostEvent.Detail.scaled, address: result.address, capacity: result.capacity, generation: generation)
                    } catch {
                        detail = HostEvent.Detail(
                            type: HostEvent.Detail.scaleFailed, capacity: capacity, generation: generation, reason: error.reason)
                    }
                } else {
                    detail = HostEvent.Detail(
                        type: HostEvent.Detail.scaleFailed, capacity: capacity, generation: generation,
                        reason: "no game host is configured for \(envelope.server) (set SKALD_HOST_START and SKALD_HOST_STOP)")
                }
                // The result is itself an event, applied like any other (and deduplicated by its id).
                let followUp = EventEnvelope(
                    id: "\(envelope.id)>\(detail.type):\(capacity):\(generation)", at: clock.now(), server: envelope.server,
                    payload: .host(HostEvent(host: nil, detail: detail)))
                try await apply(followUp, redelivered: redelivered)
            }
        }
    }
}

/// One `AsyncSerialGate` per key (server name), created on first use.
actor KeyedGates {
    private var gates: [String: AsyncSerialGate] = [:]

    func gate(for key: String) -> AsyncSerialGate {
        if let g = gates[key] { return g }
        let g = AsyncSerialGate()
        gates[key] = g
        return g
    }
}

/// The messages of a batch not yet started (renewed by the batch's heartbeat).
final class WaitingMessages: Sendable {
    private let messages: Mutex<[QueueMessage]>

    init(_ batch: [QueueMessage]) { messages = Mutex(batch) }

    var all: [QueueMessage] { messages.withLock { $0 } }

    func remove(_ m: QueueMessage) { messages.withLock { $0.removeAll { $0.receipt == m.receipt } } }
}
