import Foundation
import InteractionsAPI
import Shared
import TestSupport
import Testing

/// A real HTTP server running the real endpoint over a real SQLite queue in a temporary folder.
final class APIHarness: Sendable {
    let key = Ed25519SigningKey.random()
    let server: HTTPServer
    let queue: SQLiteEventQueue
    let port: UInt16
    let directory: String
    let logs = InMemoryLogHandler()

    init(
        ingestToken: String? = nil, allowedRoles: Set<String>? = nil, busyTimeoutMilliseconds: Int32 = 5000,
        clock: any WallClock = SystemClock()
    ) throws {
        directory = TestPaths.temporaryDirectory("api")
        var options = SQLiteEventQueue.Options()
        options.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        queue = try SQLiteEventQueue(path: directory + "/events.sqlite", options: options)
        let config = APIConfig(
            publicKey: key.publicKey, ingestToken: ingestToken, allowedRoles: allowedRoles,
            storage: StorageSettings(dataDirectory: directory))
        let logger = Logger(label: "test", level: .trace, handler: logs)
        let endpoint = InteractionsEndpoint(config: config, queue: queue, clock: clock, logger: logger)
        var http = HTTPServerConfiguration(address: HostPort(host: "127.0.0.1", port: 0))
        http.loopCount = 1
        server = HTTPServer(configuration: http, handler: endpoint, logger: logger)
        port = try server.start().port
    }

    func stop() async { await server.shutdown() }

    func drain() async throws -> [EventEnvelope] {
        var out: [EventEnvelope] = []
        while true {
            let batch = try await queue.receive(max: 100, visibilityTimeout: 60)
            if batch.isEmpty { return out }
            for m in batch {
                out.append(try EventEnvelope.decode(m.body))
                try await queue.delete(m)
            }
        }
    }
}

@Suite("POST /interactions, /events and /healthz over loopback")
struct InteractionsEndpointTests {
    @Test("a signed PING gets PONG with a JSON content type")
    func pingPong() async throws {
        let api = try APIHarness()
        let r = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(type: 1, command: nil))
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.json?["type"] as? Int == 1)
        await api.stop()
    }

    @Test("missing, malformed, wrong-key and tampered signatures are 401 with no detail")
    func badSignatures() async throws {
        let api = try APIHarness()
        let body = Interactions.json(type: 1, command: nil)
        let ts = String(Int(Date().timeIntervalSince1970))
        let good = api.key.signDiscord(timestamp: ts, body: body)
        let cases: [[(String, String)]] = [
            [],
            [("X-Signature-Timestamp", ts)],
            [("X-Signature-Ed25519", good)],
            [("X-Signature-Ed25519", "nothex"), ("X-Signature-Timestamp", ts)],
            [("X-Signature-Ed25519", Ed25519SigningKey.random().signDiscord(timestamp: ts, body: body)), ("X-Signature-Timestamp", ts)],
            [("X-Signature-Ed25519", good), ("X-Signature-Timestamp", String(Int(ts)! + 1))],
        ]
        for headers in cases {
            let r = try await HTTPTest.request(port: api.port, method: "POST", path: "/interactions", headers: headers, body: body)
            #expect(r.status == 401)
            #expect(!r.text.contains("timestamp") && !r.text.contains("key"))
        }
        let tampered = try await HTTPTest.request(
            port: api.port, method: "POST", path: "/interactions",
            headers: [("X-Signature-Ed25519", good), ("X-Signature-Timestamp", ts)], body: body + [0x20])
        #expect(tampered.status == 401)
        #expect(try await api.queue.stats().ready == 0)
        await api.stop()
    }

    @Test("a validly signed request from outside the replay window is refused")
    func replayWindow() async throws {
        let api = try APIHarness()
        let old = String(Int(Date().timeIntervalSince1970) - 3600)
        let r = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(), timestamp: old)
        #expect(r.status == 401)
        let future = String(Int(Date().timeIntervalSince1970) + 3600)
        #expect(try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(), timestamp: future).status == 401)
        #expect(try await api.queue.stats().ready == 0)
        await api.stop()
    }

    @Test("malformed JSON behind a valid signature is 400; bad UTF-8 too; an oversized body is 413")
    func malformedBodies() async throws {
        let api = try APIHarness()
        #expect(try await HTTPTest.interaction(port: api.port, key: api.key, body: Array("{not json".utf8)).status == 400)
        #expect(try await HTTPTest.interaction(port: api.port, key: api.key, body: [0xff, 0xfe, 0x7b]).status == 400)
        #expect(try await HTTPTest.interaction(port: api.port, key: api.key, body: Array(#"{"type":"one"}"#.utf8)).status == 400)
        let big = [UInt8](repeating: 0x20, count: (1 << 20) + 1)
        #expect(try await HTTPTest.interaction(port: api.port, key: api.key, body: big).status == 413)
        await api.stop()
    }

    @Test("/start is durably queued with everything the worker needs, and answered deferred")
    func startIsQueued() async throws {
        let api = try APIHarness()
        let r = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "start"))
        #expect(r.status == 200)
        #expect(r.json?["type"] as? Int == 5)
        // Durable: a fresh connection to the file (another process would see the same) finds it.
        let other = try SQLiteEventQueue(path: api.directory + "/events.sqlite")
        let m = try #require(try await other.receive(max: 1, visibilityTimeout: 30).first)
        let e = try EventEnvelope.decode(m.body)
        guard case .command(let c) = e.payload else {
            Issue.record("not a command")
            return
        }
        #expect(c.name == .start)
        #expect(c.interaction?.token == "aW50ZXJhY3Rpb24tdG9rZW4")
        #expect(c.interaction?.user?.name == "Astrid")
        // The token never reaches a log line.
        #expect(!api.logs.renderedLines.joined().contains("aW50ZXJhY3Rpb24tdG9rZW4"))
        #expect(api.logs.records.contains { $0.message == "queued command" })
        await api.stop()
    }

    @Test("the same interaction delivered twice is queued once")
    func duplicateDelivery() async throws {
        let api = try APIHarness()
        for _ in 0..<3 {
            let r = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "stop", id: "77"))
            #expect(r.json?["type"] as? Int == 5)
        }
        #expect(try await api.drain().map(\.id) == ["interaction:77"])
        await api.stop()
    }

    @Test("when the queue cannot take the command the user gets a clear ephemeral message, not a 5xx")
    func queueFailure() async throws {
        let api = try APIHarness(busyTimeoutMilliseconds: 100)
        // Another process holds the write lock: the enqueue times out for real.
        let blocker = try SQLiteDatabase(path: api.directory + "/events.sqlite")
        try blocker.execute("BEGIN EXCLUSIVE")
        let r = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "start"))
        try blocker.execute("ROLLBACK")
        #expect(r.status == 200)
        #expect(r.json?["type"] as? Int == 4)
        let data = try #require(r.json?["data"] as? [String: Any])
        #expect(data["flags"] as? Int == 64)
        #expect((data["content"] as? String)?.contains("try again") == true)
        await api.stop()
    }

    @Test("role restrictions answer an ephemeral explanation and queue nothing")
    func roleRestriction() async throws {
        let api = try APIHarness(allowedRoles: ["555"])
        let denied = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "start", roles: ["1"]))
        #expect(denied.json?["type"] as? Int == 4)
        let allowed = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "start", id: "2", roles: ["555"]))
        #expect(allowed.json?["type"] as? Int == 5)
        let status = try await HTTPTest.interaction(port: api.port, key: api.key, body: Interactions.json(command: "status", id: "3"))
        #expect(status.json?["type"] as? Int == 5)
        #expect(try await api.drain().map(\.id).sorted() == ["interaction:2", "interaction:3"])
        await api.stop()
    }

    @Test("POST /events: bearer token required; valid events queued; malformed ones poisoned with the reason")
    func ingest() async throws {
        let token = "ingest-token-0123456789"
        let api = try APIHarness(ingestToken: token)
        let event = EventEnvelope(
            id: "vm-0:1:0", at: Date(timeIntervalSince1970: 1_795_341_600), server: "valheim",
            payload: .log(LogEvent(host: "vm-0", line: "Game server connected", event: "ready")))
        let body = Array("[\(String(decoding: event.encoded(), as: UTF8.self)), {\"v\":7,\"id\":\"from-the-future\"}]".utf8)
        #expect(try await HTTPTest.request(port: api.port, method: "POST", path: "/events", body: body).status == 401)
        #expect(try await HTTPTest.request(port: api.port, method: "POST", path: "/events", headers: [("Authorization", "Bearer wrong-token-0000000000")], body: body).status == 401)
        let ok = try await HTTPTest.request(port: api.port, method: "POST", path: "/events", headers: [("Authorization", "Bearer \(token)")], body: body)
        #expect(ok.status == 202)
        #expect(ok.json?["accepted"] as? Int == 1)
        #expect(ok.json?["poisoned"] as? Int == 1)
        let again = try await HTTPTest.request(port: api.port, method: "POST", path: "/events", headers: [("Authorization", "Bearer \(token)")], body: event.encoded())
        #expect(again.json?["duplicates"] as? Int == 1)
        #expect(try await api.drain() == [event])
        let poisoned = try await api.queue.poisoned(limit: 10)
        #expect(poisoned.first?.eventID == "from-the-future")
        #expect(poisoned.first?.reason.contains("version 7") == true)
        let notJSON = try await HTTPTest.request(port: api.port, method: "POST", path: "/events", headers: [("Authorization", "Bearer \(token)")], body: Array("nope".utf8))
        #expect(notJSON.status == 400)
        await api.stop()
    }

    @Test("without SKALD_INGEST_TOKEN the ingest endpoint is disabled")
    func ingestDisabled() async throws {
        let api = try APIHarness()
        #expect(try await HTTPTest.request(port: api.port, method: "POST", path: "/events", headers: [("Authorization", "Bearer x")], body: Array("[]".utf8)).status == 404)
        await api.stop()
    }

    @Test("GET /healthz is 200 when the queue is reachable; unknown paths 404; wrong methods 405")
    func healthAndRouting() async throws {
        let api = try APIHarness()
        let h = try await HTTPTest.request(port: api.port, path: "/healthz")
        #expect(h.status == 200)
        #expect(h.json?["status"] as? String == "ok")
        #expect(try await HTTPTest.request(port: api.port, path: "/nope").status == 404)
        let wrong = try await HTTPTest.request(port: api.port, path: "/interactions")
        #expect(wrong.status == 405)
        #expect(wrong.headers["allow"] == "POST")
        await api.stop()
    }
}
