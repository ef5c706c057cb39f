import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Bad input and hostile environments: clear errors, no crashes, no leaks")
struct RobustnessTests {
    @Test("a file that is not a database is a clear error, not a crash")
    func notADatabase() throws {
        let dir = TestPaths.temporaryDirectory("notdb")
        try String(repeating: "this is not sqlite\n", count: 200).write(toFile: dir + "/events.sqlite", atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try SQLiteEventQueue(path: dir + "/events.sqlite") }
        #expect(throws: (any Error).self) { try SQLiteStateStore(path: dir + "/events.sqlite") }
    }

    @Test("hooks and watched commands do not get Skald's secrets")
    func childEnvironmentHasNoSecrets() {
        setenv("SKALD_TEST_INGEST_TOKEN", "t0ps3cret", 1)
        setenv("DISCORD_BOT_TOKEN_TEST", "b0t", 1)
        setenv("SKALD_TEST_PLAIN", "kept", 1)
        let env = Subprocess.childEnvironment()
        #expect(env["SKALD_TEST_INGEST_TOKEN"] == nil)
        #expect(env["DISCORD_BOT_TOKEN_TEST"] == nil)
        #expect(env["SKALD_TEST_PLAIN"] == "kept")
        #expect(env["PATH"] != nil)
    }

    @Test("a game a start hook leaves running in the background keeps running (no SIGPIPE on its next write)")
    func backgroundChildSurvives() async throws {
        let dir = TestPaths.temporaryDirectory("bg")
        let outcome = try await Subprocess.run(
            "echo starting; (sleep 0.5; echo still-writing; echo alive > \(dir)/alive) & echo started", timeout: 10)
        #expect(outcome.status == 0)
        #expect(outcome.output.contains("started"))
        #expect(try await eventually(timeout: 5) { FileManager.default.fileExists(atPath: dir + "/alive") })
    }

    @Test("a failing hook's output stays in the log; the reason (posted to Discord) does not carry it")
    func hookFailureReason() async throws {
        let host = CommandHostScaleSet(
            startCommand: "echo 'password=hunter2 host=10.1.2.3'; exit 3", stopCommand: "true", address: "a", timeout: 10, logger: .disabled())
        do {
            _ = try await host.setCapacity(1)
            Issue.record("no error")
        } catch {
            #expect(error.reason.contains("status 3"))
            #expect(!error.reason.contains("hunter2") && !error.reason.contains("10.1.2.3"))
        }
    }

    @Test("a huge hook timeout means never, not an overflow")
    func hugeTimeout() async throws {
        let outcome = try await Subprocess.run("true", timeout: 1e300)
        #expect(outcome.status == 0)
    }

    @Test("minutes settings have a sane upper bound")
    func minutesBound() {
        #expect(ConfigParse.positiveMinutes("1e300") == nil)
        #expect(ConfigParse.positiveMinutes("inf") == nil)
        #expect(ConfigParse.positiveMinutes("525600") == 31_536_000.0)
    }

    @Test("a Retry-After of infinity is clamped, not a crash")
    func infiniteRetryAfter() async throws {
        let discord = try RecordingServer { _, _ in RecordingServer.json(429, #"{"message":"slow down","global":false}"#, headers: [("Retry-After", "inf")]) }
        var options = DiscordClient.Options()
        options.maxRetryAfter = 5
        let client = DiscordClient(baseURL: discord.url(), botToken: "t", logger: .disabled(), options: options)
        await #expect(throws: DiscordError.throttled(retryAfter: 86_400)) { try await client.createMessage(channelID: "1", content: "x", nonce: nil) }
        await discord.stop()
    }
}
