import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A loopback Discord: records channel posts (returning the earlier message for a repeated nonce, as
/// `enforce_nonce` does) and interaction edits.
final class FakeDiscord: Sendable {
    final class Log: Sendable {
        let posts = Mutex<[(nonce: String, content: String)]>([])
        let edits = Mutex<[String]>([])
    }

    let server: RecordingServer
    let log = Log()

    init() throws {
        let log = self.log
        server = try RecordingServer { request, _ in
            let json = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:]
            if request.method == "POST", request.target.contains("/channels/") {
                let nonce = json["nonce"] as? String ?? UUID().uuidString
                let content = json["content"] as? String ?? ""
                let index = log.posts.withLock { p -> Int in
                    if let i = p.firstIndex(where: { $0.nonce == nonce }) { return i }
                    p.append((nonce, content))
                    return p.count - 1
                }
                return RecordingServer.json(200, #"{"id":"\#(1000 + index)","nonce":"\#(nonce)"}"#)
            }
            if request.method == "PATCH", request.target.contains("/messages/@original") {
                log.edits.withLock { $0.append(json["content"] as? String ?? "") }
                return RecordingServer.json(200, #"{"id":"1"}"#)
            }
            return RecordingServer.json(404, #"{"message":"Unknown","code":0}"#)
        }
    }

    var channel: [String] { log.posts.withLock { $0.map(\.content) } }
    var edits: [String] { log.edits.withLock { $0 } }
    var postRequests: Int { server.requests.filter { $0.method == "POST" }.count }
}

@Suite("End to end: Discord /start → game host → log → notices → idle stop", .serialized)
struct EndToEndTests {
    @Test("a signed /start runs the whole session on skald up, every channel notice exactly once")
    func fullCycle() async throws {
        let dir = TestPaths.temporaryDirectory("e2e")
        let discord = try FakeDiscord()
        let key = Ed25519SigningKey.random()
        let sim = TestPaths.repository.appendingPathComponent("scripts/simulated-valheim").path
        let env = [
            "DISCORD_PUBLIC_KEY": Hex.encode(key.publicKey.bytes), "DISCORD_APPLICATION_ID": "1178000000000000000",
            "DISCORD_BOT_TOKEN": "bot-token", "DISCORD_CHANNEL_ID": "1100000000000000001",
            "DISCORD_API_BASE": discord.server.url("/api/v10").absoluteString, "SKALD_DATA": dir,
            "SKALD_LISTEN": "127.0.0.1:0", "SKALD_HOST_START": "\(sim) start", "SKALD_HOST_STOP": "\(sim) stop",
            "SIM_LOG": dir + "/valheim.log", "SIM_READY_AFTER": "0.3", "SIM_PLAY_SECONDS": "1",
            "SIM_PLAYERS": "Astrid:76561198058880519,Bjorn:76561197960287930", "SKALD_WATCH_FILE": dir + "/valheim.log",
            "SKALD_IDLE_MINUTES": "0.1", "SKALD_HOST_ADDRESS": "203.0.113.7", "SKALD_LOG_LEVEL": "info",
        ]
        let up = try ChildProcess.skald(["up"], environment: env)
        let port = try #require(await up.listeningPort(), "\(up.stderr)")
        let interaction = Array(
            #"{"type":2,"id":"1180000000000000001","application_id":"1178000000000000000","token":"aW50ZXJhY3Rpb24","channel_id":"1100000000000000001","guild_id":"1100000000000000000","member":{"user":{"id":"7","username":"astrid"},"roles":[],"permissions":"0"},"data":{"name":"start"}}"#.utf8)
        let r = try await HTTPTest.interaction(port: port, key: key, body: interaction)
        #expect(r.json?["type"] as? Int == 5)
        let store = try SQLiteStateStore(path: dir + "/state.sqlite")
        #expect(try await eventually(timeout: 30) { try await store.get("valheim")?.state.readyAt != nil })
        #expect(try await eventually(timeout: 30) {
            let s = try await store.get("valheim")?.state
            return s?.status == .offline && s?.readyAt == nil
        })
        up.signal(SIGTERM)
        let code = await up.wait(timeout: 20)
        #expect(code == 0, "\(up.stderr.split(separator: "\n").suffix(8).joined(separator: "\n"))")
        let channel = discord.channel
        #expect(channel.first == "**valheim** is ready at `203.0.113.7:2456`. Have fun!")
        #expect(Set(channel) == [
            "**valheim** is ready at `203.0.113.7:2456`. Have fun!",
            "Astrid joined (1 online)", "Bjorn joined (2 online)", "Astrid left (1 online)", "Bjorn left (nobody online)",
            "Nobody has been online for 6 s — stopping **valheim** to save money. The world is saved first; `/start` brings it back.",
        ])
        #expect(channel.count == 6)
        #expect(discord.postRequests == 6)
        let edits = discord.edits
        #expect(edits.first?.hasPrefix("Starting **valheim**") == true)
        #expect(edits.last == "**valheim** is ready at `203.0.113.7:2456`. Have fun!")
        let log = try String(contentsOfFile: dir + "/valheim.log", encoding: .utf8)
        #expect(log.components(separatedBy: "Load world").count == 2)  // started once
        #expect(log.components(separatedBy: "OnApplicationQuit").count == 2)  // stopped once, world saved first
        #expect(!up.stderr.contains("bot-token") && !up.stderr.contains("aW50ZXJhY3Rpb24"))
        await discord.server.stop()
    }
}
