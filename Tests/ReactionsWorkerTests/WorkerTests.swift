import Foundation
import ReactionsWorker
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A worker over real SQLite files and real shell hooks, with notices recorded.
struct WorkerHarness {
    let dir: String
    let queue: SQLiteEventQueue
    let store: SQLiteStateStore
    let notices = RecordingNotifier()
    let worker: ReactionsWorker
    let hookLog: String

    init(consumers: Int = 2, startHook: String? = nil, stopHook: String? = nil, maxDequeueCount: Int = 5, idle: Double = 900) throws {
        dir = TestPaths.temporaryDirectory("worker")
        hookLog = dir + "/hooks.log"
        queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        store = try SQLiteStateStore(path: dir + "/state.sqlite")
        let host = CommandHostScaleSet(
            startCommand: startHook ?? "echo start >> \(hookLog)", stopCommand: stopHook ?? "echo stop >> \(hookLog)",
            address: "192.0.2.10", timeout: 30, logger: .disabled())
        var settings = WorkerSettings()
        settings.consumers = consumers
        settings.maxDequeueCount = maxDequeueCount
        settings.idleWait = 0.05
        worker = ReactionsWorker(
            queue: queue, store: store, scaleSet: { _ in host }, notifier: notices,
            brain: BrainSettings(idleTimeout: idle, bootTimeout: 1200, gamePort: 2456, defaultAddress: "192.0.2.10"),
            settings: settings, logger: .disabled())
    }

    var hooks: [String] { ((try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    /// Runs the worker until `condition` holds (or 20 s pass), then shuts it down gracefully.
    func run(until condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
        let shutdown = ShutdownSignal()
        let running = Task { try await worker.run(shutdown: shutdown) }
        let ok = try await eventually(timeout: 20, condition)
        shutdown.trigger()
        try await running.value
        return ok
    }

    func state() async throws -> ServerState? { try await store.get("valheim")?.state }
}

enum Events {
    static func log(_ event: String, _ player: String? = nil, at: Date, seq: Int64, server: String = "valheim") -> EventEnvelope {
        EventEnvelope(
            id: "vm-0:log:\(seq)", at: at, server: server,
            payload: .log(LogEvent(host: "vm-0", line: "…", event: event, player: player, seq: seq)))
    }

    static func cli(_ name: CommandName, _ id: String) -> EventEnvelope {
        EventEnvelope(id: id, at: Date(), server: "valheim", payload: .command(CommandEvent(name: name, origin: "cli")))
    }

    /// A realistic evening of joins and leaves for `players`, each with a distinct log position, plus the
    /// online set it ends with.
    static func evening(players: Int, rounds: Int, start: Date) -> ([EventEnvelope], Set<String>) {
        var events: [EventEnvelope] = []
        var online: Set<String> = []
        var seq: Int64 = 10
        var rng = SystemRandomNumberGenerator()
        for r in 0..<rounds {
            for p in 0..<players {
                let name = "Viking\(p)"
                let join = !online.contains(name) ? true : Bool.random(using: &rng) == false
                seq += 1
                events.append(log(join ? "join" : "leave", name, at: start.addingTimeInterval(Double(r * 60) + Double(seq) / 1000), seq: seq))
                if join { online.insert(name) } else { online.remove(name) }
            }
        }
        return (events, online)
    }
}

@Suite("Reactions worker over real SQLite files and shell hooks", .serialized)
struct WorkerTests {
    @Test("an operator /start runs the start hook once, settles to booting, schedules the boot timeout")
    func startCycle() async throws {
        let h = try WorkerHarness()
        try await h.queue.send(Events.cli(.start, "cli:1"))
        let ok = try await h.run { try await h.state()?.status == .booting }
        #expect(ok)
        #expect(h.hooks == ["start"])
        let s = try #require(try await h.state())
        #expect(s.ip == "192.0.2.10")
        #expect(try await h.queue.stats().delayed == 1)
        #expect(h.notices.notices.contains(.console("Starting **valheim**… I'll update this message when it is ready (usually a few minutes).")))
    }

    @Test("a full session: start, ready, joins, leaves, idle stop, stop hook, each notice once")
    func fullSession() async throws {
        let h = try WorkerHarness(idle: 0.5)
        try await h.queue.send(Events.cli(.start, "cli:start"))
        #expect(try await h.run { try await h.state()?.status == .booting })
        let now = Date()
        try await h.queue.send([
            Events.log("ready", at: now, seq: 1),
            Events.log("join", "Astrid", at: now.addingTimeInterval(0.1), seq: 2),
            Events.log("join", "Astrid", at: now.addingTimeInterval(0.1), seq: 2),  // duplicate id: deduplicated by the queue
            Events.log("leave", "Astrid", at: now.addingTimeInterval(0.2), seq: 3),
        ])
        #expect(try await h.run { try await h.state()?.status == .offline })
        #expect(h.hooks == ["start", "stop"])
        #expect(h.notices.channel == [
            "**valheim** is ready at `192.0.2.10:2456`. Have fun!",
            "Astrid joined (1 online)",
            "Astrid left (nobody online)",
            "Nobody has been online for 1 s — stopping **valheim** to save money. The world is saved first; `/start` brings it back.",
        ])
    }

    @Test("an event applied once is not applied again, however often it is delivered")
    func duplicateApply() async throws {
        let h = try WorkerHarness()
        let ready = Events.log("ready", at: Date(), seq: 1)
        let join = Events.log("join", "Bjorn", at: Date().addingTimeInterval(1), seq: 2)
        for e in [ready, join, join, join] { try await h.worker.apply(e, redelivered: false) }
        try await h.worker.apply(join, redelivered: true)
        #expect(try await h.state()?.onlinePlayers == 1)
        #expect(h.notices.channel.filter { $0.hasPrefix("Bjorn joined") }.count == 2)  // the redelivery re-posts with the same nonce
        let nonces = h.notices.notices.compactMap { if case .channel(let t, let n) = $0, t.hasPrefix("Bjorn") { return n } else { return nil } }
        #expect(Set(nonces).count == 1)
    }

    @Test("a malformed message is poisoned with its reason, and the worker carries on")
    func malformedPoisoned() async throws {
        let h = try WorkerHarness()
        _ = try await h.queue.send(Array(#"{"v":1,"id":"bad","kind":"telepathy","at":"2026-11-22T10:00:00Z","server":"valheim"}"#.utf8), eventID: "bad", delay: 0)
        _ = try await h.queue.send(Array("not json".utf8), eventID: "garbage", delay: 0)
        try await h.queue.send(Events.cli(.status, "cli:status"))
        #expect(try await h.run {
            let poisoned = try await h.queue.stats().poisoned
            let applied = try await h.state()?.hasApplied("cli:status") ?? false
            return poisoned == 2 && applied
        })
        let reasons = try await h.queue.poisoned(limit: 10).map(\.reason)
        #expect(reasons.contains { $0.contains("unknown event kind \"telepathy\"") })
        #expect(reasons.contains("not a JSON object"))
    }

    @Test("an event that keeps failing goes to the poison queue after the dequeue limit, with the last error")
    func failingPoisoned() async throws {
        let h = try WorkerHarness(maxDequeueCount: 2)
        // A damaged state record: every read of it fails.
        let db = try SQLiteDatabase(path: h.dir + "/state.sqlite")
        try db.run("INSERT INTO server_state(server, body, etag, updated_at) VALUES ('valheim', x'7b', 'e', 0)")
        try await h.queue.send(Events.cli(.status, "cli:doomed"))
        // Retries come back after a backoff; make them due at once by polling receive ourselves.
        for _ in 0..<3 {
            if let m = try await h.queue.receive(max: 1, visibilityTimeout: 30).first { await h.worker.process(m) }
            let db2 = try SQLiteDatabase(path: h.dir + "/events.sqlite")
            try db2.run("UPDATE queue_messages SET visible_at = 0")
        }
        let poisoned = try await h.queue.poisoned(limit: 1)
        #expect(poisoned.first?.eventID == "cli:doomed")
        #expect(poisoned.first?.reason.contains("failed 2 times; last error: state record unreadable") == true)
    }

    @Test("messages waiting behind a long host start in the same batch stay hidden from other consumers")
    func batchHeartbeat() async throws {
        let dir = TestPaths.temporaryDirectory("heartbeat")
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let store = try SQLiteStateStore(path: dir + "/state.sqlite")
        func worker(_ notices: RecordingNotifier, hook: String) -> ReactionsWorker {
            var settings = WorkerSettings()
            settings.consumers = 1
            settings.batchSize = 4
            settings.visibilityTimeout = 0.9
            settings.idleWait = 0.05
            let host = CommandHostScaleSet(startCommand: hook, stopCommand: "true", address: "a", timeout: 30, logger: .disabled())
            return ReactionsWorker(
                queue: queue, store: store, scaleSet: { _ in host }, notifier: notices,
                brain: BrainSettings(idleTimeout: 900, bootTimeout: 1200, gamePort: 2456, defaultAddress: "a"), settings: settings,
                logger: .disabled())
        }
        try await queue.send([Events.cli(.start, "cli:start"), Events.cli(.status, "cli:status")])
        let slowNotices = RecordingNotifier()
        let slow = worker(slowNotices, hook: "sleep 2.5")
        let shutdown = ShutdownSignal()
        let first = Task { try await slow.run(shutdown: shutdown) }
        // The first worker now holds both messages and is inside the 2.5 s start hook.
        #expect(try await eventually { try await store.get("valheim")?.state.status == .starting })
        let otherNotices = RecordingNotifier()
        let other = worker(otherNotices, hook: "true")
        let second = Task { try await other.run(shutdown: shutdown) }
        #expect(try await eventually(timeout: 20) { try await store.get("valheim")?.state.hasApplied("cli:status") == true })
        shutdown.trigger()
        try await first.value
        try await second.value
        // The status command was answered by the worker that held it, not taken over by the other.
        #expect(otherNotices.notices.isEmpty)
        let answers = slowNotices.notices.compactMap { if case .console(let t) = $0 { return t } else { return nil } }
        #expect(answers.count == 2)  // the start's and the status
    }

    @Test("8 consumers on shuffled, duplicated player events give exactly the players of the in-order log")
    func concurrentExactness() async throws {
        let h = try WorkerHarness(consumers: 8)
        let start = Date()
        try await h.worker.apply(Events.log("ready", at: start, seq: 1), redelivered: false)
        let (events, online) = Events.evening(players: 6, rounds: 20, start: start.addingTimeInterval(1))
        var all = events + events.shuffled().prefix(40).map { e -> EventEnvelope in
            var copy = e
            copy.id += ":resent"  // a different id for the same line: only player timestamps protect against it
            return copy
        }
        all.shuffle()
        try await h.queue.send(all)
        #expect(try await h.run {
            let stats = try await h.queue.stats()
            return stats.ready == 0 && stats.inFlight == 0 && stats.poisoned == 0
        })
        let s = try #require(try await h.state())
        #expect(Set(s.onlineNames) == online)
        #expect(s.onlinePlayers == online.count)
    }
}
