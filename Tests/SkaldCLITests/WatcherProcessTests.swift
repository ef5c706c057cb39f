import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("skald watch and skald classify as processes", .serialized)
struct WatcherProcessTests {
    @Test("skald classify prints the fixture's expected events; reads stdin; a missing file is an error")
    func classify() async throws {
        let p = try ChildProcess.skald(["classify", TestPaths.fixture("valheim/steam-session.log").path])
        #expect(await p.wait() == 0)
        let events = p.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let main = events.filter { ["ready", "join", "leave", "saved", "shutdown"].contains($0["event"] as! String) }
        let expected = try String(contentsOf: TestPaths.fixture("valheim/steam-session.expected.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
        #expect(main.count == expected.count)
        for (e, x) in zip(main, expected) {
            #expect(e["event"] as? String == x["event"])
            #expect(e["player"] as? String == x["player"])
            #expect(e["line"] is String)
        }
        let stdin = try ChildProcess.skald(["classify"])
        stdin.write("11/20/2026 19:58:12: Game server connected\n")
        stdin.closeInput()
        #expect(await stdin.wait() == 0)
        #expect(stdin.stdout.contains("\"event\":\"ready\""))
        let missing = try ChildProcess.skald(["classify", "/no/such/file.log"])
        #expect(await missing.wait() == 1)
        #expect(missing.stderr.contains("/no/such/file.log"))
    }

    @Test("skald watch needs exactly one source")
    func watchUsage() async throws {
        let none = try ChildProcess.skald(["watch"])
        #expect(await none.wait() == 64)
        let two = try ChildProcess.skald(["watch", "--file", "a", "--docker", "b"])
        #expect(await two.wait() == 64)
    }

    @Test("SIGKILL of the watcher mid-stream: after a restart every event is in the queue")
    func sigkillLosesNothing() async throws {
        let dir = TestPaths.temporaryDirectory("watchkill")
        let log = dir + "/game.log"
        let env = ["SKALD_DATA": dir, "SKALD_HOST_NAME": "vm-0", "SKALD_LOG_LEVEL": "warning"]
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let first = try ChildProcess.skald(["watch", "--file", log], environment: env)
        let writer = Task.detached {
            for chunk in 0..<40 {
                LogFiles.append(log, LogFiles.joinLeaveLines((chunk * 100)..<(chunk * 100 + 100)))
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(try await eventually(timeout: 30) { try await queue.stats().ready >= 2000 })
        first.signal(SIGKILL)
        #expect(await first.wait() == 128 + SIGKILL)
        await writer.value
        let second = try ChildProcess.skald(["watch", "--file", log], environment: env)
        #expect(try await eventually(timeout: 60) { try await queue.stats().ready == 8000 })
        second.signal(SIGTERM)
        #expect(await second.wait() == 0, "\(second.stderr)")
        // Every line's event exactly once (the queue keeps one message per id; count and ids agree).
        var ids: Set<String> = []
        while true {
            let batch = try await queue.receive(max: 256, visibilityTimeout: 60)
            if batch.isEmpty { break }
            ids.formUnion(batch.map(\.eventID))
        }
        #expect(ids.count == 8000)
    }

    @Test("a watcher on another host delivers through skald api's POST /events, spooling until the API is up")
    func watchIntoRemoteAPI() async throws {
        let apiDir = TestPaths.temporaryDirectory("remote-api")
        let hostDir = TestPaths.temporaryDirectory("remote-host")
        let log = hostDir + "/valheim.log"
        let token = "ingest-token-0123456789abcdef"
        let key = Ed25519SigningKey.random()
        // Reserve the API's port first (the watcher needs its URL before the API runs).
        let probe = try ChildProcess.skald(
            ["api"], environment: ["DISCORD_PUBLIC_KEY": Hex.encode(key.publicKey.bytes), "SKALD_DATA": apiDir, "SKALD_LISTEN": "127.0.0.1:0"])
        let port = try #require(await probe.listeningPort())
        probe.signal(SIGTERM)
        #expect(await probe.wait() == 0)
        let watcher = try ChildProcess.skald(
            ["watch", "--file", log],
            environment: [
                "SKALD_DATA": hostDir, "SKALD_HOST_NAME": "vm-0", "SKALD_INGEST_URL": "http://127.0.0.1:\(port)",
                "SKALD_INGEST_TOKEN": token, "SKALD_LOG_LEVEL": "info",
            ])
        LogFiles.append(log, LogFiles.joinLeaveLines(0..<50))
        // The API is down: the events wait in the spool.
        #expect(await watcher.waitForOutput("spooling events", inStderr: true))
        let api = try ChildProcess.skald(
            ["api"],
            environment: [
                "DISCORD_PUBLIC_KEY": Hex.encode(key.publicKey.bytes), "SKALD_DATA": apiDir, "SKALD_LISTEN": "127.0.0.1:\(port)",
                "SKALD_INGEST_TOKEN": token,
            ])
        let queue = try SQLiteEventQueue(path: apiDir + "/events.sqlite")
        #expect(try await eventually(timeout: 60) { try await queue.stats().ready == 100 })
        LogFiles.append(log, LogFiles.joinLeaveLines(50..<60))
        #expect(try await eventually(timeout: 30) { try await queue.stats().ready == 120 })
        watcher.signal(SIGTERM)
        api.signal(SIGTERM)
        #expect(await watcher.wait() == 0)
        #expect(await api.wait() == 0)
        #expect(!watcher.stderr.contains(token))
    }

    @Test("--docker follows `docker logs -f --timestamps`, restarts it when it exits and resumes after the last line")
    func dockerSource() async throws {
        let dir = TestPaths.temporaryDirectory("watchdocker")
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // A stand-in for the docker CLI: prints the container's timestamped log from --since, then exits
        // (as `docker logs -f` does when the container stops).
        let fake = """
            #!/bin/sh
            since=""
            while [ $# -gt 1 ]; do case "$1" in --since) since="$2"; shift 2;; *) shift;; esac; done
            echo "$since" >> "\(dir)/since.log"
            awk -v s="$since" 's == "" || $1 >= s' "\(dir)/container.log"
            sleep 0.3
            """
        try fake.write(toFile: bin + "/docker", atomically: true, encoding: .utf8)
        chmod(bin + "/docker", 0o755)
        func line(_ n: Int, _ text: String) -> String { "2026-11-22T10:00:0\(n).000000001Z 11/22/2026 10:00:0\(n): \(text)\n" }
        LogFiles.append(dir + "/container.log", line(1, "Game server connected") + line(2, "Got character ZDOID from Astrid : 5:1"))
        let env = [
            "SKALD_DATA": dir, "SKALD_HOST_NAME": "vm-0", "SKALD_LOG_LEVEL": "warning",
            "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ]
        let queue = try SQLiteEventQueue(path: dir + "/events.sqlite")
        let w = try ChildProcess.skald(["watch", "--docker", "valheim"], environment: env)
        #expect(try await eventually(timeout: 20) { try await queue.stats().ready == 2 })
        LogFiles.append(dir + "/container.log", line(3, "Destroying abandoned non persistent zdo 5:9 owner 5"))
        #expect(try await eventually(timeout: 20) { try await queue.stats().ready == 3 })
        // Give it another restart or two: nothing is delivered twice.
        try await Task.sleep(for: .seconds(2.5))
        w.signal(SIGTERM)
        #expect(await w.wait() == 0, "\(w.stderr)")
        #expect(try await queue.stats().ready == 3)
        let sinces = try String(contentsOfFile: dir + "/since.log", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(sinces.count >= 2)
        #expect(sinces.contains("2026-11-22T10:00:02.000000001Z"))
        let events = try await queue.receive(max: 10, visibilityTimeout: 30).map { try EventEnvelope.decode($0.body) }
        #expect(Set(events.map(\.id)).contains("vm-0:docker-valheim:2026-11-22T10:00:01.000000001Z:1"))
    }
}
