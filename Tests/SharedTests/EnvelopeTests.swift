import Foundation
import Shared
import Testing

@Suite("Event envelope v1")
struct EnvelopeTests {
    static let at = Date(timeIntervalSince1970: 1_795_341_600)

    static let samples: [EventEnvelope] = [
        EventEnvelope(
            id: "interaction:1", at: at, server: "valheim",
            payload: .command(
                CommandEvent(
                    name: .start,
                    interaction: InteractionRef(
                        id: "1", token: "tok", applicationID: "2", channelID: "3", guildID: "4",
                        user: UserRef(id: "5", name: "Astrid"))))),
        EventEnvelope(
            id: "vm-0:abc:120", at: at, server: "valheim",
            payload: .log(
                LogEvent(
                    host: "vm-0", line: "02/21/2022 12:16:36: Got character ZDOID from Elonmir : -982226279:1",
                    event: "join", player: "Elonmir", platformID: "76561198058880519", seq: 120))),
        EventEnvelope(
            id: "h1", at: at, server: "valheim",
            payload: .host(HostEvent(host: "vm-0", detail: .init(type: "preempt", notBefore: at.addingTimeInterval(30))))),
        EventEnvelope(
            id: "t1", at: at, server: "valheim",
            payload: .timer(TimerEvent(name: "idle-check", due: at, generation: 3))),
    ]

    @Test("every kind round-trips through its wire form")
    func roundTrip() throws {
        for e in Self.samples {
            let decoded = try EventEnvelope.decode(e.encoded())
            #expect(decoded == e)
        }
    }

    @Test("the wire form is the design's flat shape")
    func wireShape() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(Self.samples[1].encoded())) as? [String: Any])
        #expect(json["v"] as? Int == 1)
        #expect(json["kind"] as? String == "log")
        #expect(json["at"] as? String == "2026-11-22T10:00:00Z")
        #expect(json["event"] as? String == "join")
        #expect(json["player"] as? String == "Elonmir")
        #expect(json["host"] as? String == "vm-0")
        let cmd = try #require(try JSONSerialization.jsonObject(with: Data(Self.samples[0].encoded())) as? [String: Any])
        let command = try #require(cmd["command"] as? [String: Any])
        #expect(command["name"] as? String == "start")
        #expect((command["interaction"] as? [String: Any])?["applicationID"] as? String == "2")
    }

    @Test("unknown versions and kinds are errors with a reason, not crashes")
    func unknownVersionAndKind() {
        let v2 = Array(#"{"v":2,"id":"x","at":"2026-11-22T10:00:00Z","server":"valheim","kind":"log"}"#.utf8)
        #expect(throws: EnvelopeError.unsupportedVersion(2)) { try EventEnvelope.decode(v2) }
        let kind = Array(#"{"v":1,"id":"x","at":"2026-11-22T10:00:00Z","server":"valheim","kind":"telepathy"}"#.utf8)
        #expect(throws: EnvelopeError.unknownKind("telepathy")) { try EventEnvelope.decode(kind) }
    }

    @Test("malformed envelopes name what is wrong", arguments: [
        ("not json at all", "not a JSON object"),
        (#"[1,2]"#, "invalid"),
        (#"{"v":1,"at":"2026-11-22T10:00:00Z","server":"valheim","kind":"timer"}"#, "missing \"id\""),
        (#"{"v":1,"id":"x","at":"yesterday","server":"valheim","kind":"timer","timer":{"name":"idle-check","due":"2026-11-22T10:00:00Z"}}"#, "at"),
        (#"{"v":1,"id":"x","at":"2026-11-22T10:00:00Z","server":"bad server","kind":"timer","timer":{"name":"n","due":"2026-11-22T10:00:00Z"}}"#, "server"),
        (#"{"v":1,"id":"","at":"2026-11-22T10:00:00Z","server":"valheim","kind":"timer","timer":{"name":"n","due":"2026-11-22T10:00:00Z"}}"#, "id"),
        (#"{"v":1,"id":"x","at":"2026-11-22T10:00:00Z","server":"valheim","kind":"command","command":{"name":"explode"}}"#, "command"),
        (#"{"v":"1"}"#, "v"),
    ])
    func malformed(_ input: String, _ expectedFragment: String) {
        do {
            _ = try EventEnvelope.decode(Array(input.utf8))
            Issue.record("decoded \(input)")
        } catch {
            #expect(error.description.contains(expectedFragment), "\(error.description)")
        }
    }

    @Test("a batch decodes element by element, keeping each bad element's bytes and id")
    func decodeMany() throws {
        let good = String(decoding: Self.samples[3].encoded(), as: UTF8.self)
        let batch = "[\(good), {\"v\":9,\"id\":\"future\"}, 42]"
        let elements = try EventEnvelope.decodeMany(Array(batch.utf8))
        #expect(elements.count == 3)
        #expect((try? elements[0].result.get()) == Self.samples[3])
        #expect(elements[1].declaredID == "future")
        if case .failure(let e) = elements[1].result { #expect(e == .unsupportedVersion(9)) } else { Issue.record("decoded v9") }
        if case .failure(let e) = elements[2].result { #expect(e == .notJSON) } else { Issue.record("decoded 42") }
        #expect(!elements[2].raw.isEmpty)
        #expect(throws: EnvelopeError.notJSON) { try EventEnvelope.decodeMany(Array("{".utf8)) }
        #expect(try EventEnvelope.decodeMany(Array(good.utf8)).count == 1)
    }
}
