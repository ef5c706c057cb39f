import Foundation
import Shared

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the watcher delivers events: the queue itself, or a Skald API's `POST /events`.
public protocol EventSink: Sendable {
    /// A short description for logs.
    var description: String { get }
    /// Delivers events (a batch, in order). Returns once they are durably accepted; throws otherwise.
    func deliver(_ events: [EventEnvelope]) async throws
    /// Delivers from a thread that may block, when the sink can do so directly; returns false when it
    /// cannot (the caller then uses `deliver`).
    func deliverBlocking(_ events: [EventEnvelope]) throws -> Bool
}

extension EventSink {
    /// Not supported by default.
    public func deliverBlocking(_ events: [EventEnvelope]) throws -> Bool { false }
}

/// Sends straight to an `EventQueue` (the watcher runs where the queue is reachable).
public struct QueueSink: EventSink {
    let queue: any EventQueue

    /// Creates a sink over `queue`.
    public init(queue: any EventQueue) { self.queue = queue }

    /// `queue:<backend>`.
    public var description: String { "queue:\(queue.backendDescription)" }

    /// Sends the batch (the SQLite queue commits it atomically).
    public func deliver(_ events: [EventEnvelope]) async throws {
        _ = try await queue.send(events)
    }

    /// The embedded queue is sent to directly from the watcher's thread.
    public func deliverBlocking(_ events: [EventEnvelope]) throws -> Bool {
        guard let sqlite = queue as? SQLiteEventQueue else { return false }
        _ = try sqlite.sendBlocking(events)
        return true
    }
}

/// Why an ingest POST failed.
public struct IngestError: Error, CustomStringConvertible {
    /// HTTP status, or 0 for a network failure.
    public var status: Int
    /// What happened.
    public var message: String

    /// A readable explanation.
    public var description: String { status == 0 ? "ingest unreachable: \(message)" : "ingest answered \(status): \(message)" }
}

/// Posts batches to a Skald API's `POST /events` with the bearer token.
public final class HTTPIngestSink: EventSink {
    private let url: URL
    private let token: String
    private let session: URLSession

    /// Creates a sink posting to `url` (the API's base URL or its `/events` URL).
    public init(url: URL, token: String, timeout: Double = 10) {
        self.url = url.path.hasSuffix("/events") ? url : url.appendingPathComponent("events")
        self.token = token
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: config)
    }

    /// `http:<scheme://host:port/path>` — never the URL's user, password or query (they may be keys).
    public var description: String {
        var c = URLComponents(url: url, resolvingAgainstBaseURL: false)
        c?.user = nil
        c?.password = nil
        c?.query = nil
        return "http:" + (c?.string ?? "(ingest URL)")
    }

    /// The API refuses bodies over 1 MiB: batches are split to stay well under it.
    static let maxBodyBytes = 512 * 1024

    /// POSTs the batch as JSON arrays of at most `maxBodyBytes`; 202 means accepted. A failure part-way
    /// throws, and the whole batch is sent again later — the parts already taken are dropped downstream by id.
    public func deliver(_ events: [EventEnvelope]) async throws {
        var body = [UInt8](arrayLiteral: UInt8(ascii: "["))
        for e in events {
            let encoded = e.encoded()
            if body.count > 1, body.count + encoded.count + 2 > Self.maxBodyBytes {
                body.append(UInt8(ascii: "]"))
                try await post(body)
                body = [UInt8(ascii: "[")]
            }
            if body.count > 1 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: encoded)
        }
        body.append(UInt8(ascii: "]"))
        try await post(body)
    }

    private func post(_ body: [UInt8]) async throws {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.httpBody = Data(body)
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw IngestError(status: 0, message: (error as? URLError).map { "network error \($0.code.rawValue)" } ?? "network error")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 202 || status == 200 else {
            throw IngestError(status: status, message: String(decoding: data.prefix(200), as: UTF8.self))
        }
    }
}
