import Foundation
import InteractionsAPI
import Shared
import TestSupport
import Testing

@Suite("Command registration against a loopback Discord")
struct RegistrationTests {
    @Test("bulk overwrite for a guild sends the three commands with the server option, waiting out a 429")
    func registersAfterRateLimit() async throws {
        let discord = try RecordingServer { request, index in
            if index == 0 {
                return RecordingServer.json(
                    429, #"{"message":"You are being rate limited.","retry_after":0.3,"global":false}"#,
                    headers: [("Retry-After", "1"), ("X-RateLimit-Bucket", "abc")])
            }
            // Echo the commands back with ids, as Discord does.
            let sent = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]]) ?? []
            let stored = sent.enumerated().map { i, c in c.merging(["id": "12\(i)"]) { $1 } }
            return HTTPResponse.json(200, Array(try! JSONSerialization.data(withJSONObject: stored)))
        }
        let client = DiscordClient(baseURL: discord.url("/api/v10"), botToken: "bot-token", logger: .disabled())
        let start = Date()
        let stored = try await CommandRegistration.register(client: client, applicationID: "42", guildID: "7", defaultServer: "valheim")
        #expect(Date().timeIntervalSince(start) >= 0.3)
        #expect(stored.map(\.name) == ["start", "stop", "status"])
        #expect(stored.allSatisfy { $0.options.first?.name == "server" && $0.options.first?.required == false })
        #expect(stored.map(\.id) == ["120", "121", "122"])
        let requests = discord.requests
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.method == "PUT" && $0.target == "/api/v10/applications/42/guilds/7/commands" })
        #expect(requests[1].headers["Authorization"] == "Bot bot-token")
        #expect(requests[1].headers["User-Agent"]?.hasPrefix("DiscordBot (") == true)
        await discord.stop()
    }

    @Test("a 401 fails at once, without retrying")
    func unauthorizedIsNotRetried() async throws {
        let discord = try RecordingServer { _, _ in RecordingServer.json(401, #"{"message":"401: Unauthorized","code":0}"#) }
        let client = DiscordClient(baseURL: discord.url(), botToken: "wrong", logger: .disabled())
        await #expect(throws: DiscordError.unauthorized) {
            _ = try await CommandRegistration.register(client: client, applicationID: "42", guildID: nil, defaultServer: "valheim")
        }
        #expect(discord.requests.count == 1)
        #expect(discord.requests[0].target == "/applications/42/commands")
        await discord.stop()
    }
}
