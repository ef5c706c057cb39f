import Foundation

/// What a state-store failure means for the caller.
public enum StateStoreError: Error, CustomStringConvertible {
    /// The etag is stale (someone else wrote first), or an insert found the record already there: re-read.
    case conflict
    /// The backend is busy or unreachable: retry later. Keeps the underlying error.
    case transient(String, underlying: (any Error)?)
    /// A stored record cannot be read (written by a newer version, or damaged).
    case corrupt(String)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .conflict: "state record changed concurrently (etag mismatch)"
        case .transient(let what, let e): "state store temporarily unavailable: \(what)" + (e.map { " (\($0))" } ?? "")
        case .corrupt(let what): "state record unreadable: \(what)"
        }
    }
}

/// A state record with the etag of the stored version.
public struct VersionedState: Sendable {
    /// The record.
    public var state: ServerState
    /// Opaque version tag; changes on every write.
    public var etag: String

    /// Creates a versioned record.
    public init(state: ServerState, etag: String) {
        self.state = state
        self.etag = etag
    }
}

/// The table-state seam: one record per server with ETag optimistic concurrency.
///
/// Backends: SQLite (embedded default), Azure Table Storage (`If-Match`, 412), DynamoDB (conditional write).
public protocol StateStore: Sendable {
    /// The backend's name for logs.
    var backendDescription: String { get }
    /// The record and its etag, or `nil` when there is none.
    func get(_ server: String) async throws -> VersionedState?
    /// Inserts a record that must not exist yet; throws `.conflict` if it does. Returns the new etag.
    func insert(_ state: ServerState) async throws -> String
    /// Replaces the record only if its stored etag is still `etag`; throws `.conflict` otherwise.
    func replace(_ state: ServerState, ifMatch etag: String) async throws -> String
    /// Every record.
    func list() async throws -> [VersionedState]
}

extension StateStore {
    /// Writes `state` as the next version of what was read (`previous` is `nil` for a first write).
    public func write(_ state: ServerState, over previous: VersionedState?) async throws -> String {
        if let previous { return try await replace(state, ifMatch: previous.etag) }
        return try await insert(state)
    }
}
