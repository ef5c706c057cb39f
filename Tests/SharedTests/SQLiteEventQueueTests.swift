import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("SQLite events queue on real files")
struct SQLiteEventQueueTests {
    static func makeQueue(clock: MockClock = MockClock()) throws -> (SQLiteEventQueue, MockClock, String) {
        let dir = TestPaths.temporaryDirectory("queue")
        let path = dir + "/events.sqlite"
        return (try SQLiteEventQueue(path: path, clock: clock), clock, path)
    }

    static func envelope(_ id: String, line: String = "x") -> EventEnvelope {
        EventEnvelope(
            id: id, at: Date(timeIntervalSince1970: 1_795_341_600), server: "valheim",
            payload: .log(LogEvent(host: "vm-0", line: line, event: "saved")))
    }

    @Test("send, receive, delete: a deleted message is gone")
    func basicCycle() async throws {
        let (q, _, _) = try Self.makeQueue()
        #expect(try await q.send(Self.envelope("a")) == .enqueued)
        let got = try await q.receive(max: 10, visibilityTimeout: 30)
        #expect(got.count == 1)
        #expect(got[0].eventID == "a")
        #expect(got[0].dequeueCount == 1)
        #expect(try EventEnvelope.decode(got[0].body) == Self.envelope("a"))
        #expect(try await q.receive(max: 10, visibilityTimeout: 30).isEmpty)
        try await q.delete(got[0])
        #expect(try await q.stats() == QueueStats(ready: 0, delayed: 0, inFlight: 0, poisoned: 0))
    }

    @Test("a message not deleted within its visibility timeout comes back with a higher dequeue count")
    func visibilityTimeout() async throws {
        let (q, clock, _) = try Self.makeQueue()
        try await q.send(Self.envelope("a"))
        let first = try await q.receive(max: 1, visibilityTimeout: 30)
        clock.advance(29)
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).isEmpty)
        clock.advance(2)
        let second = try await q.receive(max: 1, visibilityTimeout: 30)
        #expect(second.first?.dequeueCount == 2)
        // The first receiver's receipt no longer owns the message.
        await #expect(throws: QueueError.self) { try await q.delete(first[0]) }
        try await q.delete(second[0])
    }

    @Test("a delayed send is invisible until it is due")
    func delayedSend() async throws {
        let (q, clock, _) = try Self.makeQueue()
        try await q.send(Self.envelope("timer"), delay: 900)
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).isEmpty)
        #expect(try await q.stats().delayed == 1)
        clock.advance(901)
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).first?.eventID == "timer")
    }

    @Test("sending the same event id twice keeps one message, even after the first was processed")
    func idempotentEnqueue() async throws {
        let (q, clock, _) = try Self.makeQueue()
        #expect(try await q.send(Self.envelope("dup")) == .enqueued)
        #expect(try await q.send(Self.envelope("dup")) == .duplicate)
        let got = try await q.receive(max: 10, visibilityTimeout: 30)
        #expect(got.count == 1)
        try await q.delete(got[0])
        #expect(try await q.send(Self.envelope("dup")) == .duplicate)
        // After the deduplication window (24 h) the id may be used again.
        clock.advance(24 * 3600 + 1)
        #expect(try await q.send(Self.envelope("dup")) == .enqueued)
    }

    @Test("a batch commits together and reports duplicates inside it")
    func batch() async throws {
        let (q, _, _) = try Self.makeQueue()
        let outcomes = try await q.send([Self.envelope("1"), Self.envelope("2"), Self.envelope("1")])
        #expect(outcomes == [.enqueued, .enqueued, .duplicate])
        #expect(try await q.stats().ready == 2)
    }

    @Test("poisoning keeps the body and the reason; requeue puts it back")
    func poison() async throws {
        let (q, _, _) = try Self.makeQueue()
        try await q.send(Self.envelope("bad"))
        let m = try #require(try await q.receive(max: 1, visibilityTimeout: 30).first)
        try await q.poison(m, reason: "unknown event kind \"telepathy\"")
        try await q.poisonUnsent(Array("{oops".utf8), eventID: "unparsed:1", reason: "not a JSON object")
        let p = try await q.poisoned(limit: 10)
        #expect(p.count == 2)
        #expect(p[1].eventID == "bad")
        #expect(p[1].reason == "unknown event kind \"telepathy\"")
        #expect(p[1].dequeueCount == 1)
        #expect(p[0].body == "{oops")
        #expect(try await q.stats().poisoned == 2)
        #expect(try await q.requeuePoisoned(id: p[1].id))
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).first?.eventID == "bad")
    }

    @Test("release makes a message visible again after a delay")
    func release() async throws {
        let (q, clock, _) = try Self.makeQueue()
        try await q.send(Self.envelope("r"))
        let m = try #require(try await q.receive(max: 1, visibilityTimeout: 300).first)
        try await q.release(m, delay: 5)
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).isEmpty)
        clock.advance(6)
        #expect(try await q.receive(max: 1, visibilityTimeout: 30).first?.dequeueCount == 2)
    }

    @Test("concurrent consumers on one file never hold the same message at once")
    func concurrentConsumers() async throws {
        let dir = TestPaths.temporaryDirectory("queue")
        let path = dir + "/events.sqlite"
        let producer = try SQLiteEventQueue(path: path)
        try await producer.send((0..<300).map { Self.envelope("m\($0)") })
        // Separate connections, as separate processes would have.
        let consumers = try (0..<4).map { _ in try SQLiteEventQueue(path: path) }
        let seen = try await withThrowingTaskGroup(of: [String].self) { group in
            for c in consumers {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let batch = try await c.receive(max: 7, visibilityTimeout: 300)
                        if batch.isEmpty { break }
                        for m in batch {
                            mine.append(m.eventID)
                            try await c.delete(m)
                        }
                    }
                    return mine
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        #expect(seen.count == 300)
        #expect(Set(seen).count == 300)
    }

    @Test("a local send wakes a waiting consumer at once")
    func localWakeup() async throws {
        let (q, _, _) = try Self.makeQueue(clock: MockClock(Date()))
        let generation = q.sendGeneration
        let waiter = Task {
            let start = Date()
            await q.waitForMessages(after: generation, timeout: 5)
            return Date().timeIntervalSince(start)
        }
        try await Task.sleep(for: .milliseconds(20))
        try await q.send(Self.envelope("wake"))
        let waited = await waiter.value
        #expect(waited < 1)
    }

    @Test("two processes sending to one file: every message kept once, duplicates across processes merged")
    func twoProcesses() async throws {
        let dir = TestPaths.temporaryDirectory("queue2p")
        func lines(_ range: Range<Int>) -> String {
            range.map { String(decoding: Self.envelope("e\($0)").encoded(), as: UTF8.self) }.joined(separator: "\n") + "\n"
        }
        // Overlap 400..<600 is sent by both.
        let a = try ChildProcess.skald(["queue", "send"], environment: ["SKALD_DATA": dir])
        let b = try ChildProcess.skald(["queue", "send"], environment: ["SKALD_DATA": dir])
        a.write(lines(0..<600))
        b.write(lines(400..<1000))
        a.closeInput()
        b.closeInput()
        #expect(await a.wait(timeout: 120) == 0, "\(a.stderr)")
        #expect(await b.wait(timeout: 120) == 0, "\(b.stderr)")
        let acks = (a.stdout + b.stdout).split(separator: "\n")
        #expect(acks.filter { $0.hasPrefix("enqueued ") }.count == 1000)
        #expect(acks.filter { $0.hasPrefix("duplicate ") }.count == 200)
        let q = try SQLiteEventQueue(path: dir + "/events.sqlite")
        #expect(try await q.stats().ready == 1000)
    }

    @Test("SIGKILL mid-stream loses no acknowledged message and leaves the file consistent")
    func sigkilledSender() async throws {
        let dir = TestPaths.temporaryDirectory("queuekill")
        let sender = try ChildProcess.skald(["queue", "send"], environment: ["SKALD_DATA": dir])
        let all = (0..<20_000).map { String(decoding: Self.envelope("k\($0)", line: String(repeating: "x", count: 200)).encoded(), as: UTF8.self) }
        let writer = Task.detached { sender.write(all.joined(separator: "\n") + "\n") }
        #expect(await eventually(timeout: 60) { sender.stdout.split(separator: "\n").count >= 300 })
        sender.signal(SIGKILL)
        #expect(await sender.wait() == 128 + SIGKILL)
        writer.cancel()
        let acked = Set(sender.stdout.split(separator: "\n").filter { $0.hasPrefix("enqueued ") }.map { String($0.dropFirst(9)) })
        #expect(acked.count >= 300)
        // Reopen after the crash: integrity holds, every acknowledged message is there, every body is whole.
        let db = try SQLiteDatabase(path: dir + "/events.sqlite")
        #expect(try db.first("PRAGMA integrity_check") { $0.text(0) } == "ok")
        let q = try SQLiteEventQueue(path: dir + "/events.sqlite")
        var received: Set<String> = []
        while true {
            let batch = try await q.receive(max: 256, visibilityTimeout: 300)
            if batch.isEmpty { break }
            for m in batch {
                _ = try EventEnvelope.decode(m.body)
                received.insert(m.eventID)
            }
        }
        #expect(acked.isSubset(of: received))
        #expect(received.count <= acked.count + 1)
    }
}
