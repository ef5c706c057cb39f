import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The skald binary: usage, exit codes, configuration, signals")
struct CLITests {
    @Test("--help lists the commands and exits 0; every command has its own --help")
    func help() async throws {
        let p = try ChildProcess.skald(["--help"])
        #expect(await p.wait() == 0)
        for command in ["api", "register", "queue"] {
            #expect(p.stdout.contains("  \(command)"))
            let h = try ChildProcess.skald([command, "--help"])
            #expect(await h.wait() == 0)
            #expect(h.stdout.hasPrefix("Usage: skald \(command)"))
        }
    }

    @Test("skald functions says it is not built yet, with exit 1")
    func functionsNotBuilt() async throws {
        let p = try ChildProcess.skald(["functions"])
        #expect(await p.wait() == 1)
        #expect(p.stderr.contains("not built yet"))
    }

    @Test("bad usage exits 64: no command, unknown command, unknown option, stray argument")
    func usage() async throws {
        for args in [[], ["frobnicate"], ["api", "--verbose"], ["register", "extra"], ["register", "--guild"]] {
            let p = try ChildProcess.skald(args)
            #expect(await p.wait() == 64, "\(args)")
            #expect(!p.stderr.isEmpty)
        }
    }

    @Test("missing and invalid settings are all named at once, exit 78")
    func configErrors() async throws {
        let p = try ChildProcess.skald(
            ["api"], environment: ["SKALD_LISTEN": "nowhere", "SKALD_SERVER": "two words", "SKALD_INGEST_TOKEN": "short"])
        #expect(await p.wait() == 78)
        for key in ["DISCORD_PUBLIC_KEY", "SKALD_LISTEN", "SKALD_SERVER", "SKALD_INGEST_TOKEN"] {
            #expect(p.stderr.contains(key), "\(key) not named")
        }
        #expect(!p.stderr.contains("short"))
        let r = try ChildProcess.skald(["register", "--guild", "123"])
        #expect(await r.wait() == 78)
        #expect(r.stderr.contains("DISCORD_APPLICATION_ID") && r.stderr.contains("DISCORD_BOT_TOKEN"))
    }

    @Test("skald api serves a signed PING, logs JSON lines, and exits 0 on SIGTERM")
    func apiLifecycle() async throws {
        let key = Ed25519SigningKey.random()
        let dir = TestPaths.temporaryDirectory("cli-api")
        let api = try ChildProcess.skald(
            ["api"],
            environment: [
                "DISCORD_PUBLIC_KEY": Hex.encode(key.publicKey.bytes), "SKALD_DATA": dir,
                "SKALD_LISTEN": "127.0.0.1:0",
            ])
        let port = try #require(await api.listeningPort(), "\(api.stderr)")
        #expect(await api.waitForOutput("skald api ready", inStderr: true))
        let r = try await HTTPTest.interaction(port: port, key: key, body: Array(#"{"type":1,"id":"1","application_id":"2","token":"t"}"#.utf8))
        #expect(r.json?["type"] as? Int == 1)
        api.signal(SIGTERM)
        #expect(await api.wait(timeout: 15) == 0)
        for line in api.stderr.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
    }

    @Test("skald register prints what Discord stored; honours 429 retry_after")
    func register() async throws {
        let discord = try RecordingServer { request, index in
            if index == 0 { return RecordingServer.json(429, #"{"message":"slow down","retry_after":0.2,"global":false}"#) }
            let sent = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]]) ?? []
            let stored = sent.enumerated().map { i, c in c.merging(["id": "90\(i)"]) { $1 } }
            return HTTPResponse.json(200, Array(try! JSONSerialization.data(withJSONObject: stored)))
        }
        let p = try ChildProcess.skald(
            ["register", "--guild", "1100000000000000000"],
            environment: [
                "DISCORD_APPLICATION_ID": "42", "DISCORD_BOT_TOKEN": "bot-secret-token",
                "DISCORD_API_BASE": discord.url("/api/v10").absoluteString,
            ])
        #expect(await p.wait() == 0, "\(p.stderr)")
        #expect(p.stdout.contains("registered 3 commands for guild 1100000000000000000"))
        #expect(p.stdout.contains("/start [server]"))
        #expect(p.stdout.contains("(id 902)"))
        #expect(discord.requests.count == 2)
        #expect(!p.stderr.contains("bot-secret-token"))
        await discord.stop()
    }

    @Test("skald queue shows poisoned messages with their reasons")
    func queuePoisoned() async throws {
        let dir = TestPaths.temporaryDirectory("cli-queue")
        let q = try SQLiteEventQueue(path: dir + "/events.sqlite")
        try await q.poisonUnsent(Array("{}".utf8), eventID: "broken-1", reason: "invalid event: missing \"id\"")
        let p = try ChildProcess.skald(["queue", "poisoned"], environment: ["SKALD_DATA": dir])
        #expect(await p.wait() == 0)
        #expect(p.stdout.contains("broken-1"))
        #expect(p.stdout.contains("reason: invalid event: missing \"id\""))
        let s = try ChildProcess.skald(["queue", "stats", "--json"], environment: ["SKALD_DATA": dir])
        #expect(await s.wait() == 0)
        #expect(s.stdout.contains("\"poisoned\":1"))
    }
}
