import Foundation
import LogWatcher
import Shared
import TestSupport
import Testing

@Suite("Valheim stream classifier")
struct ClassifierTests {
    static func classify(_ text: String, state: Valheim.State = Valheim.State()) -> ([ClassifiedEvent], Valheim.State) {
        var c = StreamClassifier<Valheim>(state: state)
        var out: [ClassifiedEvent] = []
        // Split on LF bytes (a Swift Character would keep "\r\n" together).
        for line in Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false) {
            out += c.classify(line)
        }
        return (out, c.state)
    }

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: TestPaths.fixture("valheim/\(name)"), encoding: .utf8)
    }

    static func summary(_ events: [ClassifiedEvent], only: Set<String>? = nil) -> [String] {
        events.filter { only?.contains($0.event) ?? true }.map { [$0.event, $0.player, $0.platformID, $0.code].compactMap { $0 }.joined(separator: " ") }
    }

    @Test("steam-session.log yields exactly the expected subsequence")
    func steamSessionMatchesExpected() throws {
        let (events, _) = Self.classify(try Self.fixture("steam-session.log"))
        let expected = try Self.fixture("steam-session.expected.jsonl").split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String]
        }
        let kinds = Set(expected.map { $0["event"]! })
        let relevant = events.filter { kinds.contains($0.event) }
        #expect(relevant.count == expected.count)
        for (e, x) in zip(relevant, expected) {
            #expect(e.event == x["event"])
            if let p = x["player"] { #expect(e.player == p) }
        }
    }

    @Test("steam-session.log in full: connections bound to characters, the wrong password is nobody, times from the lines")
    func steamSessionDetails() throws {
        let (events, _) = Self.classify(try Self.fixture("steam-session.log"))
        #expect(Self.summary(events, only: ["join", "leave", "wrong_password"]) == [
            "join Astrid 76561198058880519", "wrong_password 76561197960287930", "join Bjorn 76561197960287930",
            "leave Astrid 76561198058880519", "leave Bjorn 76561197960287930",
        ])
        let join = try #require(events.first { $0.event == "join" })
        #expect(join.time == Timestamp.parse("2026-11-20T20:03:49Z"))
        #expect(join.line == "11/20/2026 20:03:49: Got character ZDOID from Astrid : -136624608:6")
        #expect(events.filter { $0.event == "shutdown" }.count == 1)
    }

    @Test("supervisord prefix: events found; the wrapper's 'Server is now listening' debug line is not ready")
    func supervisord() throws {
        let (events, _) = Self.classify(try Self.fixture("supervisord-prefixed.log"))
        #expect(Self.summary(events, only: ["ready", "join", "leave"]) == [
            "ready", "join Elonmir 76561198058880519", "leave Elonmir 76561198058880519",
        ])
    }

    @Test("crossplay: PlayFab connections bound to characters, the join code, named leaves from the zdo owner")
    func crossplay() throws {
        let (events, _) = Self.classify(try Self.fixture("crossplay-session.log"))
        #expect(Self.summary(events, only: ["ready", "join", "leave", "join_code"]) == [
            "join_code 167812", "ready", "join Sigrid Steam_76561198058880519", "join Ulf Xbox_2535412345678901",
            "leave Ulf Xbox_2535412345678901", "leave Sigrid Steam_76561198058880519",
        ])
    }

    @Test("crossplay: when the game counts zero players, everyone still in a session leaves, by name")
    func crossplayCountZero() {
        let text = """
            11/21/2026 18:05:10: PlayFab socket with remote ID playfab/9A received local Platform ID Steam_1
            11/21/2026 18:05:19: Got character ZDOID from Sigrid : 774411223:2
            11/21/2026 18:09:40: PlayFab socket with remote ID playfab/1B received local Platform ID Xbox_2
            11/21/2026 18:09:52: Got character ZDOID from Ulf : -55512345:3
            11/21/2026 18:44:02: Player connection lost server "S" that has join code 167812, now 1 player(s)
            11/21/2026 18:58:31: Player connection lost server "S" that has join code 167812, now 0 player(s)
            """
        let (events, state) = Self.classify(text)
        let leaves = events.filter { $0.event == "leave" }
        #expect(leaves.count == 3)
        #expect(leaves[0].player == nil && leaves[0].count == 1)
        #expect(Set(leaves[1...].compactMap(\.player)) == ["Sigrid", "Ulf"])
        #expect(state.sessions.isEmpty)
    }

    @Test("log times are read in the game's time zone")
    func timeZone() throws {
        var c = StreamClassifier<Valheim>(timeZone: try #require(TimeZone(identifier: "America/New_York")))
        let e = c.classify("11/20/2026 19:58:12: Game server connected")
        #expect(e.first?.time == Timestamp.parse("2026-11-21T00:58:12Z"))
    }

    @Test("numbers too long for the game are not numbers: no crash, no event")
    func hugeNumbers() {
        let (e, _) = Self.classify("11/20/2026 20:00:00: Got character ZDOID from Astrid : -99999999999999999999999:1")
        #expect(e.isEmpty)
    }

    @Test("'Game server connected failed' is not ready; only the real line is")
    func failures() throws {
        let (events, _) = Self.classify(try Self.fixture("failures.log"))
        #expect(events.filter { $0.event == "ready" }.map(\.line) == ["11/22/2026 07:01:10: Game server connected"])
    }

    @Test("CRLF line ends, Unity noise and blank lines")
    func crlfAndNoise() {
        let text = "\r\n(Filename: ./Runtime/Export/Debug/Debug.bindings.h Line: 35)\r\n\r\n11/20/2026 19:58:12: Game server connected\r\n"
        let (events, _) = Self.classify(text)
        #expect(events.map(\.event) == ["ready"])
        #expect(events[0].line == "11/20/2026 19:58:12: Game server connected")
    }

    @Test("a death (: 0:0) and the respawn after it are not joins; a repeated spawn line is not a join")
    func deathAndRespawn() {
        let text = """
            11/20/2026 20:03:41: Got connection SteamID 1
            11/20/2026 20:03:49: Got character ZDOID from Astrid : -5:6
            11/20/2026 20:24:30: Got character ZDOID from Astrid : 0:0
            11/20/2026 20:24:41: Got character ZDOID from Astrid : -5:391
            11/20/2026 20:24:41: Got character ZDOID from Astrid : -5:391
            """
        #expect(Self.summary(Self.classify(text).0, only: ["join"]) == ["join Astrid 1"])
    }

    @Test("the several lines of one departure make one leave, whichever comes first")
    func oneDepartureOneLeave() {
        let closingFirst = """
            11/20/2026 20:03:41: Got connection SteamID 1
            11/20/2026 20:03:49: Got character ZDOID from Astrid : -5:6
            11/20/2026 20:41:05: RPC_Disconnect
            11/20/2026 20:41:05: Closing socket 1
            11/20/2026 20:41:05: Destroying abandoned non persistent zdo -5:739 owner -5
            11/20/2026 20:41:05: Destroying abandoned non persistent zdo -5:740 owner -5
            """
        #expect(Self.summary(Self.classify(closingFirst).0, only: ["leave"]) == ["leave Astrid 1"])
    }

    @Test("a connection that never spawns a character is nobody; the next spawn binds to the next connection")
    func abandonedConnection() {
        let text = """
            11/20/2026 20:00:00: Got connection SteamID 1
            11/20/2026 20:00:05: Closing socket 1
            11/20/2026 20:01:00: Got connection SteamID 2
            11/20/2026 20:01:09: Got character ZDOID from Bjorn : 77:1
            """
        #expect(Self.summary(Self.classify(text).0, only: ["join", "leave"]) == ["join Bjorn 2"])
    }

    @Test("very long lines are capped, invalid UTF-8 is tolerated, garbage yields nothing")
    func robustness() {
        var c = StreamClassifier<Valheim>(maxLineBytes: 200)
        let long = "11/20/2026 20:00:00: Got character ZDOID from Astrid : -5:6" + String(repeating: "x", count: 100_000)
        // Capped at 200 bytes: the name and numbers are inside the cap, the rest is not kept.
        let events = c.classify(long)
        #expect(events.first?.line.utf8.count == 200)
        var bad: [UInt8] = Array("11/20/2026 20:00:00: Got character ZDOID from ".utf8) + [0xff, 0xfe, 0x41] + Array(" : 9:1".utf8)
        let e2 = c.classify(ArraySlice(bad))
        #expect(e2.count == 1 && e2[0].player == "\u{fffd}\u{fffd}A")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            bad = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = c.classify(ArraySlice(bad))
        }
    }

    @Test("the state is small and serialisable: resuming mid-log from saved state gives the same events")
    func resumableState() throws {
        let lines = try Self.fixture("steam-session.log").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let whole = Self.classify(lines.joined(separator: "\n")).0
        for cut in [5, 12, 17, 25, 29] {
            let (first, state) = Self.classify(lines[0..<cut].joined(separator: "\n"))
            let saved = try JSONEncoder().encode(state)
            #expect(saved.count < 1024)
            let restored = try JSONDecoder().decode(Valheim.State.self, from: saved)
            let (second, _) = Self.classify(lines[cut...].joined(separator: "\n"), state: restored)
            #expect(Self.summary(first + second) == Self.summary(whole), "cut at \(cut)")
        }
    }

    @Test("timestamps are found behind any prefix and parsed as UTC; an impossible date gives no time")
    func timestamps() {
        #expect(Self.classify("Nov 20 19:58:12 /supervisord: valheim-server 02/29/2024 23:59:59: World saved ( 1.0ms )").0.first?.time == Timestamp.parse("2024-02-29T23:59:59Z"))
        let (e, _) = Self.classify("13/45/2026 10:00:00: World saved ( 1.0ms )")
        #expect(e.first?.event == "saved" && e.first?.time == nil)
    }
}
