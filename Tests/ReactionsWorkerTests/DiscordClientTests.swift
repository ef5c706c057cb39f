import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

@Suite("Discord REST client against a loopback recorder")
struct DiscordClientTests {
    static func client(_ server: RecordingServer) -> DiscordClient {
        var options = DiscordClient.Options()
        options.serverErrorBackoff = 0.05
        options.unknownInteractionDelays = [0.05, 0.1, 0.2]
        return DiscordClient(baseURL: server.url("/api/v10"), botToken: "bot-token", logger: .disabled(), options: options)
    }

    @Test("429: waits retry_after, then succeeds")
    func rateLimited() async throws {
        let discord = try RecordingServer { _, i in
            i == 0
                ? RecordingServer.json(429, #"{"message":"You are being rate limited.","retry_after":0.4,"global":false}"#, headers: [("X-RateLimit-Bucket", "b1")])
                : RecordingServer.json(200, #"{"id":"m1","nonce":"n"}"#)
        }
        let start = Date()
        let m = try await Self.client(discord).createMessage(channelID: "42", content: "hello", nonce: "n")
        #expect(m?.id == "m1")
        #expect(Date().timeIntervalSince(start) >= 0.4)
        #expect(discord.requests.count == 2)
        let body = try #require(discord.requests[1].json)
        #expect(body["nonce"] as? String == "n")
        #expect(body["enforce_nonce"] as? Bool == true)
        #expect(discord.requests[1].headers["Authorization"] == "Bot bot-token")
        await discord.stop()
    }

    @Test("500: backs off and retries")
    func serverError() async throws {
        let discord = try RecordingServer { _, i in i < 2 ? RecordingServer.json(502, "{}") : RecordingServer.json(200, #"{"id":"m"}"#) }
        _ = try await Self.client(discord).createMessage(channelID: "42", content: "x", nonce: nil)
        #expect(discord.requests.count == 3)
        await discord.stop()
    }

    @Test("404 Unknown interaction on an edit: retried briefly, then succeeds; no bot token sent to webhooks")
    func unknownInteractionRetried() async throws {
        let discord = try RecordingServer { _, i in
            i == 0 ? RecordingServer.json(404, #"{"message":"Unknown interaction","code":10062}"#) : RecordingServer.json(200, #"{"id":"m"}"#)
        }
        try await Self.client(discord).editOriginalResponse(applicationID: "app", token: "itoken", content: "ready")
        #expect(discord.requests.count == 2)
        #expect(discord.requests[1].method == "PATCH")
        #expect(discord.requests[1].target == "/api/v10/webhooks/app/itoken/messages/@original")
        #expect(discord.requests[1].headers["Authorization"] == nil)
        await discord.stop()
    }

    @Test("401 and 403 fail at once, never in a loop")
    func unauthorized() async throws {
        let discord = try RecordingServer { r, _ in
            r.target.contains("/channels/1/") ? RecordingServer.json(401, #"{"message":"401: Unauthorized"}"#) : RecordingServer.json(403, #"{"message":"Missing Access","code":50001}"#)
        }
        let client = Self.client(discord)
        await #expect(throws: DiscordError.unauthorized) { try await client.createMessage(channelID: "1", content: "x", nonce: nil) }
        await #expect(throws: DiscordError.forbidden("Missing Access")) { try await client.createMessage(channelID: "2", content: "x", nonce: nil) }
        #expect(discord.requests.count == 2)
        await discord.stop()
    }

    @Test("an exhausted bucket makes the next call wait for its reset instead of earning a 429")
    func bucketHeaders() async throws {
        let discord = try RecordingServer { _, _ in
            RecordingServer.json(200, #"{"id":"m"}"#, headers: [("X-RateLimit-Bucket", "b2"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset-After", "0.3")])
        }
        let client = Self.client(discord)
        _ = try await client.createMessage(channelID: "7", content: "a", nonce: nil)
        let start = Date()
        _ = try await client.createMessage(channelID: "7", content: "b", nonce: nil)
        #expect(Date().timeIntervalSince(start) >= 0.25)
        await discord.stop()
    }

    @Test("messages are clipped to Discord's 2000 characters and never parse mentions")
    func clipping() async throws {
        let discord = try RecordingServer { _, _ in RecordingServer.json(200, #"{"id":"m"}"#) }
        _ = try await Self.client(discord).createMessage(channelID: "7", content: String(repeating: "x", count: 2500), nonce: nil)
        let body = try #require(discord.requests.first?.json)
        #expect((body["content"] as? String)?.count == 2000)
        #expect((body["allowed_mentions"] as? [String: Any])?["parse"] as? [String] == [])
        await discord.stop()
    }
}
