import Foundation
import InteractionsAPI
import Shared
import Testing

/// Builds interactions the way Discord sends them.
enum Interactions {
    static func json(
        type: Int = 2, command: String? = "start", id: String = "1180000000000000001", server: String? = nil,
        roles: [String] = [], permissions: String = "0", member: Bool = true, applicationID: String = "1178000000000000000"
    ) -> [UInt8] {
        var obj: [String: Any] = [
            "id": id, "application_id": applicationID, "type": type, "token": "aW50ZXJhY3Rpb24tdG9rZW4", "version": 1,
            "guild_id": "1100000000000000000", "channel_id": "1100000000000000001",
        ]
        if let command {
            var data: [String: Any] = ["id": "1190000000000000000", "name": command, "type": 1]
            if let server { data["options"] = [["name": "server", "type": 3, "value": server]] }
            obj["data"] = data
        }
        let user: [String: Any] = ["id": "1120000000000000000", "username": "astrid", "global_name": "Astrid"]
        if member {
            obj["member"] = ["user": user, "roles": roles, "permissions": permissions, "nick": NSNull()]
        } else {
            obj["user"] = user
        }
        return Array(try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]))
    }

    static func decode(_ bytes: [UInt8]) -> Interaction {
        try! JSONDecoder().decode(Interaction.self, from: Data(bytes))
    }
}

@Suite("Command policy: what each interaction gets")
struct CommandPolicyTests {
    let now = Date(timeIntervalSince1970: 1_795_341_600)
    let open = CommandPolicy(defaultServer: "valheim", allowedRoles: nil, applicationID: nil)
    let restricted = CommandPolicy(defaultServer: "valheim", allowedRoles: ["555"], applicationID: nil)

    func response(_ d: InteractionDecision) -> (type: Int, flags: Int?, content: String?) {
        let r: InteractionResponse
        switch d {
        case .reply(let x): r = x
        case .enqueue(_, let x, _): r = x
        }
        return (r.type, r.data?.flags, r.data?.content)
    }

    @Test("PING is answered PONG and nothing is queued")
    func ping() {
        guard case .reply(let r) = open.decide(Interactions.decode(Interactions.json(type: 1, command: nil)), now: now) else {
            Issue.record("queued a ping")
            return
        }
        #expect(r.type == 1)
    }

    @Test("start, stop and status are queued with the interaction, answered deferred", arguments: ["start", "stop", "status"])
    func commandsAreQueued(_ name: String) throws {
        let d = open.decide(Interactions.decode(Interactions.json(command: name)), now: now)
        guard case .enqueue(let e, let r, let failure) = d else {
            Issue.record("not queued")
            return
        }
        #expect(e.id == "interaction:1180000000000000001")
        #expect(e.server == "valheim")
        #expect(e.at == now)
        guard case .command(let c) = e.payload else {
            Issue.record("not a command")
            return
        }
        #expect(c.name.rawValue == name)
        let i = try #require(c.interaction)
        #expect(i.id == "1180000000000000001")
        #expect(i.token == "aW50ZXJhY3Rpb24tdG9rZW4")
        #expect(i.applicationID == "1178000000000000000")
        #expect(i.channelID == "1100000000000000001")
        #expect(i.guildID == "1100000000000000000")
        #expect(i.user == UserRef(id: "1120000000000000000", name: "Astrid"))
        #expect(r.type == 5)
        #expect(failure.type == 4 && failure.data?.flags == 64)
    }

    @Test("the server option selects the server; an unknown one is answered, not queued")
    func serverOption() {
        guard case .enqueue(let e, _, _) = open.decide(Interactions.decode(Interactions.json(server: "valheim")), now: now) else {
            Issue.record("not queued")
            return
        }
        #expect(e.server == "valheim")
        let unknown = response(open.decide(Interactions.decode(Interactions.json(server: "minecraft")), now: now))
        #expect(unknown.type == 4 && unknown.flags == 64)
        #expect(unknown.content?.contains("minecraft") == true)
    }

    @Test("with allowed roles, start/stop need a role, Administrator or Manage Server; status is open")
    func roles() {
        func decision(_ command: String, roles: [String] = [], permissions: String = "0", member: Bool = true) -> Int {
            response(restricted.decide(Interactions.decode(Interactions.json(command: command, roles: roles, permissions: permissions, member: member)), now: now)).type
        }
        #expect(decision("start") == 4)
        #expect(decision("stop", roles: ["111"]) == 4)
        #expect(decision("start", roles: ["111", "555"]) == 5)
        #expect(decision("stop", permissions: "8") == 5)  // Administrator
        #expect(decision("start", permissions: "32") == 5)  // Manage Server
        #expect(decision("start", member: false) == 4)  // a DM has no roles
        #expect(decision("status") == 5)
        let text = response(restricted.decide(Interactions.decode(Interactions.json(command: "start")), now: now))
        #expect(text.flags == 64)
    }

    @Test("unknown commands and interaction types get a polite ephemeral reply")
    func unknown() {
        let cmd = response(open.decide(Interactions.decode(Interactions.json(command: "dance")), now: now))
        #expect(cmd.type == 4 && cmd.flags == 64)
        for t in [3, 5, 42] {
            let r = response(open.decide(Interactions.decode(Interactions.json(type: t)), now: now))
            #expect(r.type == 4 && r.flags == 64)
        }
        #expect(response(open.decide(Interactions.decode(Interactions.json(type: 4)), now: now)).type == 8)
    }

    @Test("an interaction for another application is refused when the application id is configured")
    func otherApplication() {
        let p = CommandPolicy(defaultServer: "valheim", allowedRoles: nil, applicationID: "999")
        #expect(response(p.decide(Interactions.decode(Interactions.json()), now: now)).type == 4)
    }
}
