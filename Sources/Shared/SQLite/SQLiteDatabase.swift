import CSQLite
import Dispatch
import Foundation

/// An SQLite failure, with what the caller should do about it.
public struct SQLiteError: Error, CustomStringConvertible {
    /// The primary result code.
    public var code: Int32
    /// SQLite's message.
    public var message: String

    /// True for lock contention that outlasted the busy timeout: retry later.
    public var isBusy: Bool {
        let primary = code & 0xff
        return primary == SQLITE_BUSY || primary == SQLITE_LOCKED
    }

    /// A readable explanation.
    public var description: String { "sqlite error \(code): \(message)" }
}

/// A value bound to or read from a statement.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// One SQLite connection in WAL mode with a busy timeout. Not thread-safe: confine it (see `SQLiteExecutor`).
public final class SQLiteDatabase {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    /// The file path.
    public let path: String

    /// Opens (creating if needed) the database at `path`, in WAL mode with `synchronous=FULL`, so that a
    /// committed transaction survives both a killed process and a power loss.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 5000) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(message) (\(path))")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
        // On a failure here the deinit closes the handle (every property is set), so it is not closed twice.
        // Switching a new file to WAL while another process opens it too can be refused as busy without the
        // busy handler being consulted: retry for a while.
        var attempts = 0
        while true {
            do {
                try execute("PRAGMA journal_mode=WAL")
                break
            } catch let e as SQLiteError where e.isBusy && attempts < Int(busyTimeoutMilliseconds / 20) {
                attempts += 1
                usleep(20_000)
            }
        }
        try execute("PRAGMA synchronous=FULL")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit {
        for (_, s) in statements { sqlite3_finalize(s) }
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows you need.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Runs a statement with bound values; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int {
        let stmt = try prepared(sql, values)
        defer { sqlite3_reset(stmt) }
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc) }
        return Int(sqlite3_changes(handle))
    }

    /// Runs a query and calls `row` for each result row.
    public func query(_ sql: String, _ values: [SQLiteValue] = [], row: (SQLiteRow) throws -> Void) throws {
        let stmt = try prepared(sql, values)
        defer { sqlite3_reset(stmt) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            try row(SQLiteRow(stmt: stmt))
        }
    }

    /// The first row's values mapped by `transform`, or `nil` when there is no row.
    public func first<T>(_ sql: String, _ values: [SQLiteValue] = [], _ transform: (SQLiteRow) throws -> T) throws -> T? {
        var result: T?
        let stmt = try prepared(sql, values)
        defer { sqlite3_reset(stmt) }
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW {
            result = try transform(SQLiteRow(stmt: stmt))
        } else if rc != SQLITE_DONE {
            throw error(rc)
        }
        return result
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` takes the write lock up front, so two writers never
    /// deadlock upgrading read locks); rolls back when `body` throws.
    public func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The rowid of the last insert.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    private func prepared(_ sql: String, _ values: [SQLiteValue]) throws -> OpaquePointer {
        let stmt: OpaquePointer
        if let s = statements[sql] {
            stmt = s
        } else {
            var s: OpaquePointer?
            let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
            guard rc == SQLITE_OK, let s else { throw error(rc) }
            statements[sql] = s
            stmt = s
        }
        sqlite3_clear_bindings(stmt)
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(stmt, idx)
            case .int(let x): rc = sqlite3_bind_int64(stmt, idx, x)
            case .double(let x): rc = sqlite3_bind_double(stmt, idx, x)
            case .text(let x): rc = sqlite3_bind_text(stmt, idx, x, -1, SQLiteDatabase.transient)
            case .blob(let x):
                rc = x.withUnsafeBytes { raw in
                    sqlite3_bind_blob(stmt, idx, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count),
                        SQLiteDatabase.transient)
                }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        return stmt
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }

    // SQLITE_TRANSIENT is a macro Swift does not import.
    nonisolated(unsafe) static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// A result row; valid only inside the `query` callback.
public struct SQLiteRow {
    fileprivate let stmt: OpaquePointer

    /// Column as an integer.
    public func int(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }
    /// Column as a double.
    public func double(_ i: Int32) -> Double { sqlite3_column_double(stmt, i) }
    /// True when the column is NULL.
    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, i) == SQLITE_NULL }
    /// Column as text (`nil` when NULL).
    public func text(_ i: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, i) else { return nil }
        let n = Int(sqlite3_column_bytes(stmt, i))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    /// Column as bytes (empty when NULL).
    public func blob(_ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, i))
        guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}

/// Runs blocking SQLite work on a dedicated serial queue, so async callers never block the cooperative pool.
///
/// Safety of `@unchecked Sendable`: `db` is only touched inside closures run on `queue`, which is serial.
public final class SQLiteExecutor: @unchecked Sendable {
    private let db: SQLiteDatabase
    private let queue: DispatchQueue

    /// Opens `path` (see `SQLiteDatabase.init`) and runs `setup` on it once, with retries while the file is
    /// busy (another process may be creating the same schema).
    public init(
        path: String, label: String, busyTimeoutMilliseconds: Int32 = 5000, setup: (SQLiteDatabase) throws -> Void
    ) throws {
        let db = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        var attempt = 0
        while true {
            do {
                try setup(db)
                break
            } catch let e as SQLiteError where e.isBusy && attempt < 20 {
                attempt += 1
                usleep(50_000)
            }
        }
        self.db = db
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` with the connection on the executor's queue.
    public func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            queue.async {
                c.resume(with: Result { try body(self.db) })
            }
        }
    }

    /// Runs `body` synchronously (for command-line tools and tests).
    public func runSync<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        try queue.sync { try body(db) }
    }
}
