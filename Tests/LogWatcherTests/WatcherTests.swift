import Foundation
import LogWatcher
import Shared
import Synchronization
import TestSupport
import Testing

/// Wraps a real sink and records every event id it accepted (to prove "exactly once by id").
final class CountingSink: EventSink {
    let inner: any EventSink
    let ids = Mutex<[String]>([])
    init(_ inner: any EventSink) { self.inner = inner }
    var description: String { "counting(\(inner.description))" }
    func deliver(_ events: [EventEnvelope]) async throws {
        try await inner.deliver(events)
        ids.withLock { $0 += events.map(\.id) }
    }
    var all: [String] { ids.withLock { $0 } }
}

func eventLines(_ range: Range<Int>) -> String { LogFiles.joinLeaveLines(range) }

func runWatcher(_ watcher: LogWatcher<Valheim>, until condition: @escaping @Sendable () async throws -> Bool, timeout: Double = 60) async throws -> Bool {
    let shutdown = ShutdownSignal()
    let task = Task { try await watcher.run(shutdown: shutdown) }
    let ok = try await eventually(timeout: timeout, condition)
    shutdown.trigger()
    try await task.value
    return ok
}

@Suite("Log watcher delivery: restart, outage, spool", .serialized)
struct WatcherTests {
    static func watcher(dir: String, log: String, sink: any EventSink, spoolMax: Int64 = 100 << 20) -> LogWatcher<Valheim> {
        var settings = WatcherSettings(server: "valheim", host: "vm-0", hostAddress: nil)
        settings.spoolMaxBytes = spoolMax
        settings.maxRetryDelay = 0.2
        return LogWatcher<Valheim>(name: "test", dataDirectory: dir, settings: settings, sink: sink, logger: .disabled()) { position in
            FileTailSource(path: log, resumeFrom: position, logger: .disabled())
        }
    }

    @Test("a restart in the middle of a file resumes exactly: no event lost, no id sent twice")
    func restartMidFile() async throws {
        let dir = TestPaths.temporaryDirectory("watch")
        let log = dir + "/game.log"
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let sink = CountingSink(QueueSink(queue: queue))
        append(log, eventLines(0..<300))
        #expect(try await runWatcher(Self.watcher(dir: dir, log: log, sink: sink)) { sink.all.count == 600 })
        append(log, eventLines(300..<500))
        #expect(try await runWatcher(Self.watcher(dir: dir, log: log, sink: sink)) { sink.all.count == 1000 })
        let ids = sink.all
        #expect(Set(ids).count == ids.count)
        #expect(ids.count == 1000)
        #expect(try await queue.stats().ready == 1000)
        // The events carry what the classifier saw, in order, with an increasing log position.
        let events = try await queue.receive(max: 4, visibilityTimeout: 30).map { try EventEnvelope.decode($0.body) }
        guard case .log(let first) = events[0].payload, case .log(let second) = events[1].payload else {
            Issue.record("not log events")
            return
        }
        #expect(first.event == "join" && first.player == "P0")
        #expect(second.event == "leave" && second.player == "P0")
        #expect((second.seq ?? 0) > (first.seq ?? 0))
        #expect(events[0].id.hasPrefix("vm-0:") && events[0].at == Timestamp.parse("2026-11-20T20:00:00Z"))
    }

    @Test("a sink outage during 10,000 lines: everything is spooled and delivered exactly once, in order, after recovery")
    func sinkOutage() async throws {
        let dir = TestPaths.temporaryDirectory("watch-outage")
        let log = dir + "/game.log"
        let down = Atomic<Bool>(true)
        let accepted = Mutex<[String]>([])
        let api = try RecordingServer { request, _ in
            if down.load(ordering: .relaxed) { return RecordingServer.json(503, #"{"error":"queue unavailable"}"#) }
            let items = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]]) ?? []
            accepted.withLock { $0 += items.compactMap { $0["id"] as? String } }
            return RecordingServer.json(202, #"{"accepted":1}"#)
        }
        let sink = HTTPIngestSink(url: api.url("/"), token: "ingest-token-0123456789")
        let watcher = Self.watcher(dir: dir, log: log, sink: sink)
        let shutdown = ShutdownSignal()
        let task = Task { try await watcher.run(shutdown: shutdown) }
        for chunk in 0..<10 {
            append(log, eventLines((chunk * 500)..<(chunk * 500 + 500)))
            try await Task.sleep(for: .milliseconds(30))
        }
        // All 10,000 lines read and spooled while the sink is down.
        #expect(try await eventually(timeout: 60) { watcher.deliveredCount == 10_000 })
        #expect(accepted.withLock { $0.isEmpty })
        down.store(false, ordering: .relaxed)
        #expect(try await eventually(timeout: 60) { accepted.withLock { $0.count } >= 10_000 })
        shutdown.trigger()
        try await task.value
        let ids = accepted.withLock { $0 }
        #expect(ids.count == 10_000)
        #expect(Set(ids).count == 10_000)
        // In log order: each line's id ends with its byte offset.
        let offsets = ids.map { Int($0.split(separator: ":").last!)! }
        #expect(offsets == offsets.sorted())
        await api.stop()
    }

    @Test("a full spool keeps the oldest events, says so loudly, pauses reading — and loses nothing once the sink is back")
    func spoolFull() async throws {
        let dir = TestPaths.temporaryDirectory("watch-full")
        let log = dir + "/game.log"
        let down = Atomic<Bool>(true)
        let accepted = Mutex<[String]>([])
        let api = try RecordingServer { request, _ in
            if down.load(ordering: .relaxed) { return RecordingServer.json(503, "{}") }
            let items = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]]) ?? []
            accepted.withLock { $0 += items.compactMap { $0["id"] as? String } }
            return RecordingServer.json(202, "{}")
        }
        let logs = InMemoryLogHandler()
        var settings = WatcherSettings(server: "valheim", host: "vm-0", hostAddress: nil)
        settings.spoolMaxBytes = 20_000
        settings.maxRetryDelay = 0.2
        let watcher = LogWatcher<Valheim>(
            name: "full", dataDirectory: dir, settings: settings, sink: HTTPIngestSink(url: api.url("/"), token: "ingest-token-0123456789"),
            logger: Logger(label: "t", level: .trace, handler: logs)
        ) { FileTailSource(path: log, resumeFrom: $0, logger: .disabled()) }
        append(log, eventLines(0..<200))
        let shutdown = ShutdownSignal()
        let task = Task { try await watcher.run(shutdown: shutdown) }
        #expect(try await eventually { logs.records.contains { $0.level == .critical && $0.message.contains("SPOOL FULL") } })
        let spooled = try String(contentsOfFile: dir + "/watch-full.spool/events.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(spooled.count > 10 && spooled.count < 400)
        #expect(spooled.first?.contains("\"player\":\"P0\"") == true)
        down.store(false, ordering: .relaxed)
        #expect(try await eventually(timeout: 30) { accepted.withLock { $0.count } >= 400 })
        shutdown.trigger()
        try await task.value
        let ids = accepted.withLock { $0 }
        #expect(ids.count == 400 && Set(ids).count == 400)
        await api.stop()
    }
}

@Suite("HTTP ingest sink")
struct IngestSinkTests {
    @Test("a large batch is split into bodies the API accepts (under its 1 MiB limit), in order")
    func splitsLargeBatches() async throws {
        let bodies = Mutex<[Int]>([])
        let ids = Mutex<[String]>([])
        let api = try RecordingServer { request, _ in
            bodies.withLock { $0.append(request.body.count) }
            let items = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]]) ?? []
            ids.withLock { $0 += items.compactMap { $0["id"] as? String } }
            return RecordingServer.json(202, "{}")
        }
        let long = String(repeating: "x", count: 4000)
        let events = (0..<400).map { i in
            EventEnvelope(id: "e\(i)", at: Date(timeIntervalSince1970: 1_795_341_600), server: "valheim", payload: .log(LogEvent(host: "h", line: long, event: "saved")))
        }
        try await HTTPIngestSink(url: api.url("/"), token: "ingest-token-0123456789").deliver(events)
        #expect(bodies.withLock { $0.count } >= 3)
        #expect(bodies.withLock { $0.allSatisfy { $0 <= 512 * 1024 } })
        #expect(ids.withLock { $0 } == events.map(\.id))
        #expect(api.requests.first?.headers["Authorization"] == "Bearer ingest-token-0123456789")
        await api.stop()
    }
}
