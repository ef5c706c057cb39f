import Foundation
import Synchronization

/// The embedded state table: one row per server in a SQLite file, JSON body plus an etag that changes on
/// every write. Conditional writes are single statements (`UPDATE … WHERE etag = ?`), so they are atomic
/// across processes.
public final class SQLiteStateStore: StateStore {
    private let executor: SQLiteExecutor
    /// The last record this store read or wrote per server, by etag: a record whose etag has not changed is
    /// not decoded again (every event reads the record it wrote last; decoding is most of that read's cost).
    private let cache = Mutex<[String: VersionedState]>([:])
    /// The file path.
    public let path: String

    /// Opens (creating if needed) the store at `path`.
    public init(path: String) throws {
        self.path = path
        executor = try SQLiteExecutor(path: path, label: "skald.state") { db in
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS server_state (
                    server TEXT PRIMARY KEY,
                    body BLOB NOT NULL,
                    etag TEXT NOT NULL,
                    updated_at REAL NOT NULL
                )
                """)
        }
    }

    /// `sqlite:<path>`.
    public var backendDescription: String { "sqlite:\(path)" }

    /// The record and its etag.
    public func get(_ server: String) async throws -> VersionedState? {
        let cached = cache.withLock { $0[server] }
        let known = cached?.etag ?? ""
        let row = try await guarded {
            try await self.executor.run { db in
                // The body only when the etag differs from the cached one.
                try db.first(
                    "SELECT etag, CASE WHEN etag = ?2 THEN NULL ELSE body END FROM server_state WHERE server = ?1",
                    [.text(server), .text(known)]
                ) { r in (r.text(0) ?? "", r.isNull(1) ? nil : r.blob(1)) }
            }
        }
        guard let (etag, body) = row else { return nil }
        guard let body else { return cached }
        let versioned = VersionedState(state: try Self.decode(body, server: server), etag: etag)
        cache.withLock { $0[server] = versioned }
        return versioned
    }

    /// Inserts a new record.
    public func insert(_ state: ServerState) async throws -> String {
        let etag = Self.newETag()
        let body = try Self.encode(state)
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.run(
                    "INSERT INTO server_state(server, body, etag, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(server) DO NOTHING",
                    [.text(state.server), .blob(body), .text(etag), .double(Date().timeIntervalSince1970)])
            }
        }
        guard changed == 1 else { throw StateStoreError.conflict }
        cache.withLock { $0[state.server] = VersionedState(state: state, etag: etag) }
        return etag
    }

    /// Replaces the record if the etag still matches.
    public func replace(_ state: ServerState, ifMatch etag: String) async throws -> String {
        let next = Self.newETag()
        let body = try Self.encode(state)
        let changed = try await guarded {
            try await self.executor.run { db in
                try db.run(
                    "UPDATE server_state SET body = ?, etag = ?, updated_at = ? WHERE server = ? AND etag = ?",
                    [.blob(body), .text(next), .double(Date().timeIntervalSince1970), .text(state.server), .text(etag)])
            }
        }
        guard changed == 1 else { throw StateStoreError.conflict }
        cache.withLock { $0[state.server] = VersionedState(state: state, etag: next) }
        return next
    }

    /// Every record, by server name.
    public func list() async throws -> [VersionedState] {
        let rows = try await guarded {
            try await self.executor.run { db in
                var out: [(String, [UInt8], String)] = []
                try db.query("SELECT server, body, etag FROM server_state ORDER BY server") { r in
                    out.append((r.text(0) ?? "", r.blob(1), r.text(2) ?? ""))
                }
                return out
            }
        }
        return try rows.map { VersionedState(state: try Self.decode($0.1, server: $0.0), etag: $0.2) }
    }

    private static func newETag() -> String { "W/\"" + SecureRandom.hex(8) + "\"" }

    private static func encode(_ state: ServerState) throws -> [UInt8] {
        Array(try JSONCoding.encoder.encode(state))
    }

    private static func decode(_ body: [UInt8], server: String) throws -> ServerState {
        do {
            return try JSONCoding.decoder.decode(ServerState.self, from: Data(body))
        } catch {
            throw StateStoreError.corrupt("record for \(server): \(error)")
        }
    }

    private func guarded<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as SQLiteError {
            throw StateStoreError.transient(e.isBusy ? "the state file is locked" : "sqlite failure", underlying: e)
        }
    }
}
