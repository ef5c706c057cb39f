import Foundation
import Shared
import TestSupport
import Testing

@Suite("SQLite state store: ETag optimistic concurrency on real files")
struct StateStoreTests {
    static func store() throws -> SQLiteStateStore {
        try SQLiteStateStore(path: TestPaths.temporaryDirectory("state") + "/state.sqlite")
    }

    @Test("insert-if-absent: the second insert is a conflict")
    func insertIfAbsent() async throws {
        let s = try Self.store()
        #expect(try await s.get("valheim") == nil)
        let etag = try await s.insert(ServerState(server: "valheim"))
        await #expect(throws: StateStoreError.self) { try await s.insert(ServerState(server: "valheim")) }
        #expect(try await s.get("valheim")?.etag == etag)
    }

    @Test("replace-if-match: a stale etag is a conflict, and the etag changes on every write")
    func replaceIfMatch() async throws {
        let s = try Self.store()
        let e1 = try await s.insert(ServerState(server: "valheim"))
        var state = ServerState(server: "valheim")
        state.status = .starting
        let e2 = try await s.replace(state, ifMatch: e1)
        #expect(e2 != e1)
        state.status = .online
        await #expect(throws: StateStoreError.self) { try await s.replace(state, ifMatch: e1) }
        let e3 = try await s.replace(state, ifMatch: e2)
        #expect(Set([e1, e2, e3]).count == 3)
        let read = try #require(try await s.get("valheim"))
        #expect(read.state.status == .online && read.etag == e3)
    }

    @Test("concurrent read-modify-write loops lose no update")
    func noLostUpdates() async throws {
        let path = TestPaths.temporaryDirectory("state") + "/state.sqlite"
        let stores = try (0..<4).map { _ in try SQLiteStateStore(path: path) }
        _ = try await stores[0].insert(ServerState(server: "counter"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                group.addTask {
                    for _ in 0..<50 {
                        while true {
                            let v = try #require(try await store.get("counter"))
                            var s = v.state
                            s.generation += 1
                            do {
                                _ = try await store.replace(s, ifMatch: v.etag)
                                break
                            } catch StateStoreError.conflict {
                                continue
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await stores[0].get("counter")?.state.generation == 200)
    }
}
