import Foundation
import ReactionsWorker
import Shared
import Testing

/// Builders for the decision table.
enum E {
    static let t0 = Date(timeIntervalSince1970: 1_795_341_600)  // 2026-11-22T10:00:00Z
    static let settings = BrainSettings(idleTimeout: 900, bootTimeout: 1200, gamePort: 2456, defaultAddress: "10.0.0.5")

    static func at(_ s: Double) -> Date { t0.addingTimeInterval(s) }

    static func interaction(_ id: String) -> InteractionRef {
        InteractionRef(id: id, token: "tok-\(id)", applicationID: "app", channelID: "c", guildID: "g", user: UserRef(id: "u", name: "Astrid"))
    }

    static func command(_ name: CommandName, _ id: String = UUID().uuidString, at: Double = 0, cli: Bool = false) -> EventEnvelope {
        EventEnvelope(
            id: id, at: E.at(at), server: "valheim",
            payload: .command(CommandEvent(name: name, interaction: cli ? nil : interaction(id), origin: cli ? "cli" : nil)))
    }

    static func log(_ event: String, _ player: String? = nil, at: Double, seq: Int64? = nil, id: String? = nil, code: String? = nil) -> EventEnvelope {
        EventEnvelope(
            id: id ?? "log:\(event):\(player ?? "-"):\(at):\(seq ?? -1)", at: E.at(at), server: "valheim",
            payload: .log(LogEvent(host: "vm-0", line: "…", event: event, player: player, seq: seq, code: code)))
    }

    static func host(_ type: String, capacity: Int? = nil, generation: Int? = nil, address: String? = nil, reason: String? = nil, at: Double = 0) -> EventEnvelope {
        EventEnvelope(
            id: "host:\(type):\(capacity ?? -1):\(generation ?? -1):\(at)", at: E.at(at), server: "valheim",
            payload: .host(HostEvent(host: nil, detail: .init(type: type, address: address, capacity: capacity, generation: generation, reason: reason))))
    }

    static func timer(_ name: String, generation: Int, due: Double) -> EventEnvelope {
        EventEnvelope(id: "timer:\(name):\(generation):\(due)", at: E.at(due), server: "valheim", payload: .timer(TimerEvent(name: name, due: E.at(due), generation: generation)))
    }

    static func state(_ status: ServerStatus, generation: Int = 1, players: [String] = [], startedAt: Double = -100, idleSince: Double? = nil, ip: String? = "10.0.0.5") -> ServerState {
        var s = ServerState(server: "valheim")
        s.status = status
        s.generation = generation
        s.startedAt = E.at(startedAt)
        s.ip = ip
        if status == .online { s.readyAt = E.at(startedAt + 10) }
        for p in players { s.players[p] = PlayerRecord(online: true, lastEventAt: E.at(startedAt + 20), lastSeq: nil, platformID: nil) }
        s.idleSince = idleSince.map(E.at)
        return s
    }

    /// Decides and records the event as applied, as the worker does.
    static func apply(_ s: ServerState, _ e: EventEnvelope, now: Double? = nil) -> Decision {
        var d = Brain.decide(s, e, now: now.map(E.at) ?? e.at, settings: settings)
        d.state.recordApplied(e.id, actions: d.actions)
        return d
    }
}

extension Decision {
    var scales: [Int] { actions.compactMap { if case .scale(let c, _) = $0 { return c } else { return nil } } }
    var channelTexts: [String] { actions.compactMap { if case .channel(let t, _) = $0 { return t } else { return nil } } }
    var replies: [(String, String)] { actions.compactMap { if case .reply(let p, let t) = $0 { return (p.id, t) } else { return nil } } }
    var timers: [TimerEvent] { actions.compactMap { if case .schedule(let t) = $0 { return t } else { return nil } } }
    var consoles: [String] { actions.compactMap { if case .console(let t) = $0 { return t } else { return nil } } }
}

@Suite("The brain: (state, event, now) → (state, actions)")
struct BrainTests {
    // MARK: /start

    @Test("/start while offline: starting, a new generation, scale to 1, a boot-timeout timer, a reply")
    func startFromOffline() {
        let d = E.apply(ServerState(server: "valheim"), E.command(.start, "i1"))
        #expect(d.state.status == .starting)
        #expect(d.state.generation == 1)
        #expect(d.scales == [1])
        #expect(d.timers == [TimerEvent(name: TimerEvent.bootTimeout, due: E.at(1200), generation: 1)])
        #expect(d.replies.map(\.0) == ["i1"])
        #expect(d.replies[0].1.contains("Starting"))
        #expect(d.state.pendingInteractions.map(\.id) == ["i1"])
    }

    @Test("/start is idempotent while starting or booting: no second scale, the asker is remembered", arguments: [ServerStatus.starting, .booting])
    func startWhileStarting(_ status: ServerStatus) {
        var s = E.state(status)
        s.pendingInteractions = [PendingInteraction(id: "first", applicationID: "app", token: "t", expiresAt: E.at(600))]
        let d = E.apply(s, E.command(.start, "second"))
        #expect(d.state.status == status)
        #expect(d.state.generation == 1)
        #expect(d.scales.isEmpty && d.timers.isEmpty)
        #expect(d.state.pendingInteractions.map(\.id) == ["first", "second"])
        #expect(d.replies.first?.1.contains("update this message") == true)
    }

    @Test("/start while online answers with the address and who is online")
    func startWhileOnline() {
        let d = E.apply(E.state(.online, players: ["Astrid"]), E.command(.start))
        #expect(d.state.status == .online && d.scales.isEmpty)
        #expect(d.replies[0].1.contains("10.0.0.5:2456") && d.replies[0].1.contains("Astrid"))
    }

    @Test("/start while stopping asks to try again, changes nothing")
    func startWhileStopping() {
        let d = E.apply(E.state(.stopping), E.command(.start))
        #expect(d.state.status == .stopping && d.scales.isEmpty)
        #expect(d.replies[0].1.contains("stopping"))
    }

    @Test("pending /start replies are capped")
    func pendingCap() {
        var s = E.state(.starting)
        for i in 0..<8 { s = E.apply(s, E.command(.start, "i\(i)")).state }
        #expect(s.pendingInteractions.map(\.id) == ["i3", "i4", "i5", "i6", "i7"])
    }

    // MARK: /stop and /status

    @Test("/stop while running: stopping, scale to 0, waiting /start replies told", arguments: [ServerStatus.starting, .booting, .online])
    func stopWhileRunning(_ status: ServerStatus) {
        var s = E.state(status)
        s.pendingInteractions = [PendingInteraction(id: "waiting", applicationID: "app", token: "t", expiresAt: E.at(600))]
        let d = E.apply(s, E.command(.stop, "stopper"))
        #expect(d.state.status == .stopping)
        #expect(d.scales == [0])
        #expect(d.replies.map(\.0) == ["waiting", "stopper"])
        #expect(d.state.pendingInteractions.map(\.id) == ["stopper"])
    }

    @Test("/stop while offline or stopping only answers", arguments: [ServerStatus.offline, .stopping])
    func stopWhileStopped(_ status: ServerStatus) {
        let d = E.apply(E.state(status), E.command(.stop))
        #expect(d.state.status == status && d.scales.isEmpty)
        #expect(d.replies[0].1.contains("already"))
    }

    @Test("/status answers in every status and changes nothing but the activity", arguments: ServerStatus.allCases)
    func status(_ status: ServerStatus) {
        let s = E.state(status, players: status == .online ? ["Bjorn"] : [])
        let d = E.apply(s, E.command(.status))
        #expect(d.state.status == status && d.scales.isEmpty && d.timers.isEmpty)
        let fragment: [ServerStatus: String] = [.offline: "offline", .starting: "starting", .booting: "loading", .online: "online", .stopping: "stopping"]
        #expect(d.replies[0].1.contains(fragment[status]!))
    }

    @Test("operator (CLI) commands are answered on the console")
    func cliAnswersOnConsole() {
        let d = E.apply(ServerState(server: "valheim"), E.command(.start, cli: true))
        #expect(d.replies.isEmpty)
        #expect(d.consoles.first?.contains("Starting") == true)
    }

    // MARK: scale results

    @Test("scale settled up: starting → booting with the address; waiting replies edited")
    func scaledUp() {
        var s = E.state(.starting, ip: nil)
        s.pendingInteractions = [PendingInteraction(id: "i1", applicationID: "app", token: "t", expiresAt: E.at(600))]
        let d = E.apply(s, E.host(HostEvent.Detail.scaled, capacity: 1, generation: 1, address: "203.0.113.7"))
        #expect(d.state.status == .booting)
        #expect(d.state.ip == "203.0.113.7")
        #expect(d.replies.first?.1.contains("203.0.113.7:2456") == true)
        #expect(d.state.pendingInteractions.count == 1)
    }

    @Test("a late scale-up while offline is reversed; a late scale-down while running is reversed")
    func lateScaleResults() {
        #expect(E.apply(E.state(.offline), E.host(HostEvent.Detail.scaled, capacity: 1, generation: 1)).scales == [0])
        let d = E.apply(E.state(.online, generation: 2), E.host(HostEvent.Detail.scaled, capacity: 0, generation: 1))
        #expect(d.state.status == .online && d.scales == [1])
    }

    @Test("scale settled down: stopping → offline, every player marked offline")
    func scaledDown() {
        let d = E.apply(E.state(.stopping, players: ["Astrid", "Bjorn"]), E.host(HostEvent.Detail.scaled, capacity: 0, generation: 1))
        #expect(d.state.status == .offline)
        #expect(d.state.onlinePlayers == 0)
        #expect(d.state.players.count == 2)
    }

    @Test("a failed start goes offline and says why; a failed stop keeps it running and tries again later")
    func scaleFailures() {
        let start = E.apply(E.state(.starting), E.host(HostEvent.Detail.scaleFailed, capacity: 1, generation: 1, reason: "exit 125"))
        #expect(start.state.status == .offline)
        #expect(start.channelTexts.first?.contains("exit 125") == true)
        var s = E.state(.stopping)
        s.readyAt = E.at(0)
        let stop = E.apply(s, E.host(HostEvent.Detail.scaleFailed, capacity: 0, generation: 1, reason: "timed out"), now: 50)
        #expect(stop.state.status == .online)
        #expect(stop.timers.map(\.name) == [TimerEvent.idleCheck])
        #expect(stop.channelTexts.first?.contains("may still be running") == true)
    }

    // MARK: ready, players

    @Test("ready: online, announced once with ip:port, /start replies edited and cleared, idle timer armed", arguments: [ServerStatus.starting, .booting])
    func ready(_ status: ServerStatus) {
        var s = E.state(status)
        s.pendingInteractions = [PendingInteraction(id: "i1", applicationID: "app", token: "t", expiresAt: E.at(600))]
        let d = E.apply(s, E.log("ready", at: 60))
        #expect(d.state.status == .online)
        #expect(d.channelTexts.count == 1)
        #expect(d.channelTexts[0].contains("ready at `10.0.0.5:2456`"))
        #expect(d.replies.map(\.0) == ["i1"])
        #expect(d.state.pendingInteractions.isEmpty)
        #expect(d.timers == [TimerEvent(name: TimerEvent.idleCheck, due: E.at(960), generation: 1)])
        let again = E.apply(d.state, E.log("ready", at: 61))
        #expect(again.channelTexts.isEmpty && again.state.status == .online)
    }

    @Test("ready while offline: the game came up by itself; it is tracked as a new session")
    func readyWhileOffline() {
        let d = E.apply(ServerState(server: "valheim"), E.log("ready", at: 5))
        #expect(d.state.status == .online && d.state.generation == 1)
        #expect(d.channelTexts.count == 1)
    }

    @Test("join and leave: notices with the count, the last leave arms the idle check")
    func joinLeave() {
        var s = E.state(.online, startedAt: 0, idleSince: 10)
        var d = E.apply(s, E.log("join", "Astrid", at: 100, seq: 1))
        #expect(d.channelTexts == ["Astrid joined (1 online)"])
        #expect(d.state.idleSince == nil)
        s = d.state
        d = E.apply(s, E.log("join", "Bjorn", at: 110, seq: 2))
        #expect(d.channelTexts == ["Bjorn joined (2 online)"])
        d = E.apply(d.state, E.log("leave", "Astrid", at: 200, seq: 3))
        #expect(d.channelTexts == ["Astrid left (1 online)"])
        #expect(d.timers.isEmpty)
        d = E.apply(d.state, E.log("leave", "Bjorn", at: 300, seq: 4))
        #expect(d.channelTexts == ["Bjorn left (nobody online)"])
        #expect(d.state.idleSince == E.at(300))
        #expect(d.timers == [TimerEvent(name: TimerEvent.idleCheck, due: E.at(1200), generation: 1)])
    }

    @Test("a repeated join or an older event changes nothing and posts nothing")
    func duplicatesAndOlder() {
        let s = E.apply(E.state(.online, startedAt: 0), E.log("join", "Astrid", at: 100, seq: 1)).state
        let dup = E.apply(s, E.log("join", "Astrid", at: 100, seq: 1, id: "other-id"))
        #expect(dup.channelTexts.isEmpty && dup.state.onlinePlayers == 1)
        let left = E.apply(s, E.log("leave", "Astrid", at: 200, seq: 5)).state
        let lateJoin = E.apply(left, E.log("join", "Astrid", at: 150, seq: 3))
        #expect(lateJoin.channelTexts.isEmpty && lateJoin.state.onlinePlayers == 0)
    }

    @Test("events in the same second are ordered by their log position")
    func sameSecondUsesSeq() {
        let s = E.state(.online, startedAt: 0)
        let leaveFirst = E.apply(s, E.log("leave", "Ulf", at: 100, seq: 9)).state
        let join = E.apply(leaveFirst, E.log("join", "Ulf", at: 100, seq: 8))
        #expect(join.state.onlinePlayers == 0)
    }

    @Test("player lines while offline, and lines from before the session, are ignored")
    func ignoredPlayerEvents() {
        #expect(E.apply(ServerState(server: "valheim"), E.log("join", "Astrid", at: 5)).state.onlinePlayers == 0)
        let old = E.apply(E.state(.online, startedAt: 1000), E.log("join", "Astrid", at: 100))
        #expect(old.state.onlinePlayers == 0 && old.channelTexts.isEmpty)
    }

    @Test("player events in any order and with duplicates give the same players as in order")
    func orderInsensitive() {
        var rng = SystemRandomNumberGenerator()
        var events: [EventEnvelope] = []
        var seq: Int64 = 0
        for round in 0..<6 {
            for name in ["Astrid", "Bjorn", "Sigrid", "Ulf"] where Bool.random(using: &rng) || round == 0 {
                seq += 1
                events.append(E.log("join", name, at: Double(100 + seq), seq: seq))
                if Bool.random(using: &rng) || round == 5 {
                    seq += 1
                    events.append(E.log(Bool.random(using: &rng) ? "leave" : "join", name, at: Double(100 + seq / 2), seq: seq))
                }
            }
        }
        func run(_ list: [EventEnvelope]) -> [String] {
            var s = E.state(.online, startedAt: 0)
            for e in list where !s.hasApplied(e.id) { s = E.apply(s, e).state }
            return s.onlineNames
        }
        let expected = run(events)
        for _ in 0..<50 {
            var shuffled = events + events.filter { _ in Bool.random(using: &rng) }
            shuffled.shuffle(using: &rng)
            #expect(run(shuffled) == expected)
        }
    }

    @Test("a departure the log did not name: at a game count of zero everyone is offline and the idle check is armed")
    func unnamedLeave() {
        let s = E.state(.online, players: ["Sigrid", "Ulf"], startedAt: 0)
        var leave = E.log("leave", at: 500, seq: 9)
        if case .log(var l) = leave.payload {
            l.count = 0
            leave.payload = .log(l)
        }
        let d = E.apply(s, leave)
        #expect(d.state.onlinePlayers == 0)
        #expect(d.channelTexts == ["Sigrid, Ulf left (nobody online)"])
        #expect(d.timers.map(\.name) == [TimerEvent.idleCheck])
        // Without a count of zero there is no telling who left: nothing changes.
        #expect(E.apply(s, E.log("leave", at: 500, seq: 9)).state.onlinePlayers == 2)
    }

    @Test("a shutdown line older than the current ready line is an old one: ignored")
    func oldShutdownIgnored() {
        var s = E.state(.online, startedAt: 0)
        s.readyAt = E.at(100)
        #expect(E.apply(s, E.log("shutdown", at: 50)).state.status == .online)
        #expect(E.apply(s, E.log("shutdown", at: 150)).state.status == .stopping)
    }

    // MARK: timers

    @Test("idle check: stops when nobody has been online for the idle timeout")
    func idleStop() {
        let s = E.state(.online, idleSince: 300)
        let d = E.apply(s, E.timer(TimerEvent.idleCheck, generation: 1, due: 1200))
        #expect(d.state.status == .stopping)
        #expect(d.scales == [0])
        #expect(d.channelTexts.first?.contains("Nobody has been online for 15 min") == true)
    }

    @Test("idle check does nothing when someone is online, idle started later, or it belongs to an old session")
    func idleCheckNoOps() {
        #expect(E.apply(E.state(.online, players: ["A"]), E.timer(TimerEvent.idleCheck, generation: 1, due: 1200)).state.status == .online)
        #expect(E.apply(E.state(.online, idleSince: 600), E.timer(TimerEvent.idleCheck, generation: 1, due: 1200)).state.status == .online)
        #expect(E.apply(E.state(.online, generation: 2, idleSince: 0), E.timer(TimerEvent.idleCheck, generation: 1, due: 1200)).state.status == .online)
    }

    @Test("boot timeout: a server not ready in time is stopped with a notice; a ready one is left alone")
    func bootTimeout() {
        for status in [ServerStatus.starting, .booting] {
            let d = E.apply(E.state(status), E.timer(TimerEvent.bootTimeout, generation: 1, due: 1200))
            #expect(d.state.status == .stopping && d.scales == [0])
            #expect(d.channelTexts.first?.contains("did not come up within 20 min") == true)
        }
        #expect(E.apply(E.state(.online), E.timer(TimerEvent.bootTimeout, generation: 1, due: 1200)).scales.isEmpty)
    }

    // MARK: host events

    @Test("eviction notice: offline, players cleared, the channel told when the world was last saved")
    func eviction() {
        var s = E.state(.online, players: ["Astrid"])
        s = E.apply(s, E.log("saved", at: 30)).state
        let d = E.apply(s, E.host(HostEvent.Detail.preempt, at: 40))
        #expect(d.state.status == .offline && d.state.onlinePlayers == 0)
        #expect(d.channelTexts.first?.contains("evicted") == true)
        #expect(d.channelTexts.first?.contains("2026-11-22 10:00 UTC") == true)
        #expect(E.apply(ServerState(server: "valheim"), E.host(HostEvent.Detail.preempt)).channelTexts.isEmpty)
    }

    @Test("the game shutting down by itself stops the host; while stopping it is expected")
    func shutdownLine() {
        let d = E.apply(E.state(.online, players: ["A"]), E.log("shutdown", at: 50))
        #expect(d.state.status == .stopping && d.scales == [0] && d.state.onlinePlayers == 0)
        #expect(E.apply(E.state(.stopping), E.log("shutdown", at: 50)).scales.isEmpty)
    }

    @Test("a crossplay join code is recorded and shown with the address")
    func joinCode() {
        let d = E.apply(E.state(.booting), E.log("join_code", at: 5, code: "167812"))
        #expect(d.state.joinCode == "167812")
        let ready = E.apply(d.state, E.log("ready", at: 6))
        #expect(ready.channelTexts.first?.contains("167812") == true)
    }

    @Test("nonces are stable, distinct per notice, and within Discord's 25 characters")
    func nonces() {
        let a = Brain.nonce("event-1", "join")
        #expect(a == Brain.nonce("event-1", "join"))
        #expect(a != Brain.nonce("event-1", "leave"))
        #expect(a.count <= 25)
    }

    @Test("the applied ring is bounded and keeps actions only for the newest events")
    func appliedRing() {
        var s = ServerState(server: "valheim")
        for i in 0..<300 { s.recordApplied("e\(i)", actions: [.console("x")]) }
        #expect(s.appliedEvents.count == ServerState.appliedRingSize)
        #expect(s.hasApplied("e299") && !s.hasApplied("e0"))
        #expect(s.appliedEvents.filter { !$0.actions.isEmpty }.count == ServerState.actionsKept)
    }
}
