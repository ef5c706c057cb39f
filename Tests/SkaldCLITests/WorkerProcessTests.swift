import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Worker processes sharing one SQLite file", .serialized)
struct WorkerProcessTests {
    static func env(_ dir: String, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "SKALD_DATA": dir, "SKALD_HOST_START": "echo start >> \(dir)/hooks.log",
            "SKALD_HOST_STOP": "echo stop >> \(dir)/hooks.log", "SKALD_LOG_LEVEL": "warning",
            "SKALD_WORKER_CONSUMERS": "2",
        ].merging(extra) { $1 }
    }

    static func log(_ event: String, _ player: String?, at: Date, seq: Int64) -> EventEnvelope {
        EventEnvelope(id: "vm-0:\(seq)", at: at, server: "valheim", payload: .log(LogEvent(host: "vm-0", line: "…", event: event, player: player, seq: seq)))
    }

    @Test("4 worker processes on shuffled, duplicated player events end with exactly the in-order players")
    func fourProcessesExact() async throws {
        let dir = TestPaths.temporaryDirectory("workers4")
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let store = try SQLiteStateStore(path: dir + "/state.sqlite")
        let start = Date()
        // Bring the server online first, then an evening of player events in random order, some sent twice.
        try await queue.send(Self.log("ready", nil, at: start, seq: 1))
        var events: [EventEnvelope] = []
        var online: Set<String> = []
        var seq: Int64 = 1
        for round in 0..<40 {
            for p in 0..<8 {
                let name = "Viking\(p)"
                let join = !online.contains(name) || round % 3 == 0 && p % 2 == 0
                seq += 1
                events.append(Self.log(join ? "join" : "leave", name, at: start.addingTimeInterval(1 + Double(seq) / 100), seq: seq))
                if join { online.insert(name) } else { online.remove(name) }
            }
        }
        let resent = events.shuffled().prefix(80).map { e -> EventEnvelope in
            var c = e
            c.id += ":again"
            return c
        }
        let workers = try (0..<4).map { _ in try ChildProcess.skald(["worker"], environment: Self.env(dir)) }
        #expect(try await eventually { try await store.get("valheim")?.state.status == .online })
        try await queue.send((events + resent).shuffled())
        let drained = try await eventually(timeout: 60) {
            let s = try await queue.stats()
            return s.ready == 0 && s.inFlight == 0
        }
        #expect(drained)
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(await w.wait() == 0, "\(w.stderr)") }
        let state = try #require(try await store.get("valheim")?.state)
        #expect(Set(state.onlineNames) == online)
        #expect(try await queue.stats().poisoned == 0)
    }

    @Test("a worker SIGKILLed in the middle of an event: another worker finishes it, and it is applied once")
    func sigkillMidEvent() async throws {
        let dir = TestPaths.temporaryDirectory("workerkill")
        let env = Self.env(
            dir,
            [
                "SKALD_HOST_START": "echo begin >> \(dir)/hooks.log; sleep 2; echo start >> \(dir)/hooks.log",
                "SKALD_VISIBILITY_TIMEOUT_SECONDS": "5", "SKALD_WORKER_CONSUMERS": "1",
            ])
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let store = try SQLiteStateStore(path: dir + "/state.sqlite")
        let victim = try ChildProcess.skald(["worker"], environment: env)
        try await queue.send(EventEnvelope(id: "cli:start:1", at: Date(), server: "valheim", payload: .command(CommandEvent(name: .start, origin: "cli"))))
        // Wait until the victim has committed the decision and is inside the start hook.
        #expect(try await eventually { ((try? String(contentsOfFile: dir + "/hooks.log", encoding: .utf8)) ?? "").contains("begin") })
        victim.signal(SIGKILL)
        #expect(await victim.wait() == 128 + SIGKILL)
        let before = try #require(try await store.get("valheim")?.state)
        #expect(before.status == .starting && before.generation == 1)
        // The survivor gets the message once its visibility timeout passes, and finishes the recorded actions.
        let survivor = try ChildProcess.skald(["worker"], environment: env)
        #expect(try await eventually(timeout: 30) { try await store.get("valheim")?.state.status == .booting })
        survivor.signal(SIGTERM)
        #expect(await survivor.wait() == 0)
        let after = try #require(try await store.get("valheim")?.state)
        #expect(after.generation == 1)
        #expect(after.appliedEvents.filter { $0.id == "cli:start:1" }.count == 1)
        let stats = try await queue.stats()
        #expect(stats.ready == 0 && stats.inFlight == 0)
        #expect(stats.delayed == 1)  // one boot-timeout timer, however often it was scheduled
    }

    @Test("skald start / status / stop go through the queue and a running worker, and print its answer")
    func operatorCommands() async throws {
        let dir = TestPaths.temporaryDirectory("operator")
        let worker = try ChildProcess.skald(["worker"], environment: Self.env(dir))
        let start = try ChildProcess.skald(["start"], environment: Self.env(dir))
        #expect(await start.wait() == 0, "\(start.stderr) // worker: \(worker.stderr)")
        #expect(start.stdout.contains("Starting valheim"))
        let state = try ChildProcess.skald(["state", "--json"], environment: Self.env(dir))
        #expect(await state.wait() == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [[String: Any]])
        #expect(json.first?["server"] as? String == "valheim")
        #expect(["starting", "booting"].contains(json.first?["status"] as? String ?? ""))
        #expect(json.first?["online_players"] as? Int == 0)
        #expect(json.first?.keys.contains("ip") == true)
        #expect(json.first?["etag"] is String)
        let stop = try ChildProcess.skald(["stop", "--wait", "--timeout", "30"], environment: Self.env(dir))
        #expect(await stop.wait() == 0, "\(stop.stderr)")
        #expect(stop.stdout.contains("valheim: offline"))
        let table = try ChildProcess.skald(["state"], environment: Self.env(dir))
        #expect(await table.wait() == 0)
        #expect(table.stdout.hasPrefix("SERVER"))
        #expect(table.stdout.contains("offline"))
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let noWorker = try ChildProcess.skald(["status", "--timeout", "1"], environment: Self.env(dir))
        #expect(await noWorker.wait() == 1)
        #expect(noWorker.stderr.contains("is `skald up` or `skald worker` running"))
    }

    @Test("skald worker without its host hooks names both settings and exits 78")
    func workerConfig() async throws {
        let p = try ChildProcess.skald(["worker"], environment: ["SKALD_IDLE_MINUTES": "soon"])
        #expect(await p.wait() == 78)
        for key in ["SKALD_HOST_START", "SKALD_HOST_STOP", "SKALD_IDLE_MINUTES"] { #expect(p.stderr.contains(key)) }
    }
}
