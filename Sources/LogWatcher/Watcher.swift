import Foundation
import Shared
import Synchronization

/// Settings of one watcher.
public struct WatcherSettings: Sendable {
    /// The server the log belongs to.
    public var server: String
    /// This host's name (in events and their ids).
    public var host: String
    /// The address players connect to, reported once at start when known.
    public var hostAddress: String?
    /// Events per delivery.
    public var batchMax = 256
    /// Spool bound in bytes.
    public var spoolMaxBytes: Int64 = 100 << 20
    /// Longest pause between replay attempts while the sink is down.
    public var maxRetryDelay: Double = 30
    /// The zone the game's log times are written in (nil: UTC).
    public var timeZone: TimeZone?
    /// A line time further in the future than this is not trusted (a wrong zone or clock): the read time is
    /// used instead, and a warning logged once.
    public var futureTolerance: Double = 300
    /// The events sent on (the rest — `connecting`, `wrong_password`, `world_loaded` — only feed the
    /// classifier's own bookkeeping and `skald classify`).
    public var sentEvents: Set<String> = Set(
        [LogEventName.ready, .join, .leave, .saved, .shutdown, .joinCode].map(\.rawValue))
    /// The cursor is saved at most this often (and on shutdown). Events of lines after the saved cursor are
    /// sent again after a crash — with the same ids, so downstream drops them — which is what makes a
    /// less frequent save safe.
    public var cursorSaveInterval: Double = 1

    /// Creates settings.
    public init(server: String, host: String, hostAddress: String?) {
        self.server = server
        self.host = host
        self.hostAddress = hostAddress
    }
}

/// What the watcher persists: where the source is, the classifier's state as of that point, and the line
/// counter (a log position that keeps increasing across rotations).
struct WatchCursor<State: Codable & Sendable>: Codable, Sendable {
    var game: String
    var position: SourcePosition
    var classifier: State
    var seq: Int64
}

/// The log watcher: follows a source, classifies each line, and delivers events without losing or inventing
/// one.
///
/// - Event ids are stable for a line (`<host>:<file id>:<offset>`), so a resend is recognised downstream.
/// - The cursor (position, classifier state, line counter) is saved only after the sink — or the spool —
///   accepted the events of every line before it; a restart resumes exactly there.
/// - Sink down: events go to a durable, bounded spool, replayed in order with backoff; while the spool holds
///   anything, new events queue behind it.
/// - SIGTERM: deliver what is pending, save the cursor, exit.
///
/// Runs on its own thread: sources block briefly on inotify / poll, which the cooperative pool must not do.
public final class LogWatcher<Game: GameDefinition>: Service {
    private let watchName: String
    private let makeSource: @Sendable (SourcePosition?) -> any LogSource
    private let sink: any EventSink
    private let directory: String
    private let settings: WatcherSettings
    private let clock: any WallClock
    private let logger: Logger
    private let delivered = Atomic<Int>(0)

    /// Creates a watcher named `name` (its cursor and spool live in `dataDirectory` under that name).
    public init(
        name: String, dataDirectory: String, settings: WatcherSettings, sink: any EventSink,
        clock: any WallClock = SystemClock(), logger: Logger, source: @escaping @Sendable (SourcePosition?) -> any LogSource
    ) {
        watchName = name
        directory = dataDirectory
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.logger = logger
        makeSource = source
    }

    /// `watcher`.
    public var name: String { "watcher" }

    /// Events delivered to the sink or the spool so far (for tests and benchmarks).
    public var deliveredCount: Int { delivered.load(ordering: .relaxed) }

    var cursorPath: String { directory + "/watch-\(watchName).cursor" }
    var spoolDirectory: String { directory + "/watch-\(watchName).spool" }

    /// Runs until shutdown on a dedicated thread.
    public func run(shutdown: ShutdownSignal) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                c.resume(with: Result {
                    let spool = try Spool(directory: self.spoolDirectory, maxBytes: self.settings.spoolMaxBytes, logger: self.logger)
                    try self.loop(shutdown: shutdown, spool: spool)
                })
            }
            thread.name = "skald-watcher"
            thread.start()
        }
    }

    private func loop(shutdown: ShutdownSignal, spool: Spool) throws {
        let saved = loadCursor()
        var classifier = StreamClassifier<Game>(state: saved?.classifier ?? Game.initialState(), timeZone: settings.timeZone)
        var warnedAboutTime = false
        var seq = saved?.seq ?? 0
        let source = makeSource(saved?.position)
        defer { source.close() }
        logger.info(
            "watching",
            metadata: [
                "source": .string(source.description), "sink": .string(sink.description),
                "resumed": .bool(saved != nil), "game": .string(Game.name),
            ])
        var pending: [EventEnvelope] = []
        if let address = settings.hostAddress {
            pending.append(
                EventEnvelope(
                    id: "\(settings.host):address:\(Int(clock.now().timeIntervalSince1970))", at: clock.now(), server: settings.server,
                    payload: .host(HostEvent(host: settings.host, detail: .init(type: HostEvent.Detail.address, address: address)))))
        }
        var events: [ClassifiedEvent] = []
        var lastSave = Monotonic.nanoseconds()
        var unsavedLines = false
        var nextReplay: UInt64 = 0
        var retryDelay = 0.5

        func cursor() -> WatchCursor<Game.State> {
            WatchCursor(game: Game.name, position: source.position, classifier: classifier.state, seq: seq)
        }

        /// Sink first when nothing is spooled; else (or when it fails) the spool. Returns how many of the
        /// events (from the front) were accepted.
        func deliver(_ batch: [EventEnvelope]) -> Int {
            if spool.isEmpty {
                do {
                    if try !sink.deliverBlocking(batch) { try Self.await { try await self.sink.deliver(batch) } }
                    delivered.wrappingAdd(batch.count, ordering: .relaxed)
                    return batch.count
                } catch {
                    logger.warning(
                        "sink unavailable; spooling events", metadata: ["sink": .string(sink.description), "error": .string("\(error)")])
                    nextReplay = Monotonic.nanoseconds() + UInt64(retryDelay * 1e9)
                }
            }
            do {
                let accepted = batch.count - (try spool.append(batch))
                delivered.wrappingAdd(accepted, ordering: .relaxed)
                return accepted
            } catch {
                logger.error("cannot write the spool; holding events", metadata: ["error": .string("\(error)")])
                return 0
            }
        }

        func replay() {
            guard !spool.isEmpty, Monotonic.nanoseconds() >= nextReplay else { return }
            let (batch, end) = spool.peek(max: settings.batchMax)
            do {
                if !batch.isEmpty, try !sink.deliverBlocking(batch) { try Self.await { try await self.sink.deliver(batch) } }
                try spool.commit(upTo: end)
                retryDelay = 0.5
                if spool.isEmpty { logger.notice("sink is back; spool drained") }
            } catch {
                retryDelay = min(settings.maxRetryDelay, retryDelay * 2)
                nextReplay = Monotonic.nanoseconds() + UInt64(retryDelay * Double.random(in: 0.8...1.2) * 1e9)
                logger.debug("spool replay failed", metadata: ["error": .string("\(error)"), "retry_in_s": .double(retryDelay)])
            }
        }

        while true {
            let stopping = shutdown.isTriggered
            if !pending.isEmpty {
                let accepted = deliver(pending)
                if accepted > 0 { pending.removeFirst(accepted) }
            }
            // Everything read so far is delivered: the cursor may move up to here.
            if pending.isEmpty, unsavedLines, Monotonic.nanoseconds() - lastSave >= UInt64(settings.cursorSaveInterval * 1e9) {
                saveCursor(cursor())
                lastSave = Monotonic.nanoseconds()
                unsavedLines = false
            }
            replay()
            if stopping {
                if pending.isEmpty, unsavedLines { saveCursor(cursor()) }
                if !pending.isEmpty {
                    logger.error(
                        "stopping with undelivered events; they are read again on the next start",
                        metadata: ["events": .int(pending.count)])
                }
                break
            }
            if !pending.isEmpty {
                // Neither the sink nor the spool takes events: read nothing more (the log keeps the lines) and
                // try again shortly; the cursor stays before these events.
                Thread.sleep(forTimeInterval: 0.5)
                continue
            }
            let replayDue = !spool.isEmpty && Monotonic.nanoseconds() >= nextReplay
            let lines = source.readLines(max: settings.batchMax, wait: replayDue ? 0 : 0.2)
            let now = clock.now()
            for line in lines {
                seq += 1
                events.removeAll(keepingCapacity: true)
                line.bytes.withUnsafeBufferPointer { classifier.classify($0, into: &events) }
                for (i, e) in events.enumerated() where settings.sentEvents.contains(e.event) {
                    var at = e.time ?? now
                    if at.timeIntervalSince(now) > settings.futureTolerance {
                        if !warnedAboutTime {
                            warnedAboutTime = true
                            logger.warning(
                                "log times are ahead of this clock; using the read time (check SKALD_LOG_TIMEZONE)",
                                metadata: ["ahead_s": .int(Int(at.timeIntervalSince(now)))])
                        }
                        at = now
                    }
                    pending.append(
                        EventEnvelope(
                            id: "\(settings.host):\(line.key)" + (i == 0 ? "" : "#\(i)"), at: at, server: settings.server,
                            payload: .log(
                                LogEvent(
                                    host: settings.host, line: e.line, event: e.event, player: e.player, platformID: e.platformID,
                                    seq: seq, code: e.code, count: e.count))))
                }
            }
            if !lines.isEmpty { unsavedLines = true }
        }
        logger.info("watcher stopped", metadata: ["events.delivered": .int(deliveredCount)])
    }

    private func loadCursor() -> WatchCursor<Game.State>? {
        guard let data = FileManager.default.contents(atPath: cursorPath) else { return nil }
        do {
            let c = try JSONCoding.decoder.decode(WatchCursor<Game.State>.self, from: data)
            guard c.game == Game.name else {
                logger.warning("the saved cursor is for another game; starting over")
                return nil
            }
            return c
        } catch {
            logger.error("the saved cursor is unreadable; starting over", metadata: ["error": .string("\(error)")])
            return nil
        }
    }

    private func saveCursor(_ c: WatchCursor<Game.State>) {
        do {
            try AtomicFile.write(Array(try JSONCoding.encoder.encode(c)), to: cursorPath)
        } catch {
            logger.error("cannot save the cursor", metadata: ["error": .string("\(error)")])
        }
    }

    /// Runs async work from the watcher's thread and waits for it.
    static func await(_ work: @escaping @Sendable () async throws -> Void) throws {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await work()
                box.set(nil)
            } catch {
                box.set(error)
            }
            done.signal()
        }
        done.wait()
        if let e = box.get() { throw e }
    }
}

/// A thread-safe slot for an async result.
final class ResultBox: Sendable {
    private let value = Mutex<(any Error)?>(nil)
    func set(_ e: (any Error)?) { value.withLock { $0 = e } }
    func get() -> (any Error)? { value.withLock { $0 } }
}
