import Foundation
import Shared
import Synchronization

/// A loopback HTTP peer (Discord's REST API, an ingest endpoint, …) that records every request and answers
/// from a script. It runs on the project's own `HTTPServer` on port 0.
public final class RecordingServer: Sendable {
    /// One recorded request.
    public struct Recorded: Sendable {
        /// Method.
        public var method: String
        /// Path with query.
        public var target: String
        /// Header fields.
        public var headers: HTTPHeaders
        /// Body.
        public var body: [UInt8]
        /// When it arrived.
        public var at: Date

        /// The body parsed as a JSON object.
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        /// The body as text.
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Answers the n-th request (0-based) to the server.
    public typealias Responder = @Sendable (HTTPRequest, Int) async -> HTTPResponse

    private let server: HTTPServer
    private let handler: Handler
    /// The bound port.
    public let port: UInt16

    private final class Handler: HTTPHandler {
        let responder: Responder
        let recorded = Mutex<[Recorded]>([])

        init(responder: @escaping Responder) { self.responder = responder }

        func handle(_ request: HTTPRequest) async -> HTTPResponse {
            let index = recorded.withLock { r -> Int in
                r.append(Recorded(method: request.method, target: request.target, headers: request.headers, body: request.body, at: Date()))
                return r.count - 1
            }
            return await responder(request, index)
        }
    }

    /// Starts a recorder that answers with `responder`.
    public init(responder: @escaping Responder) throws {
        handler = Handler(responder: responder)
        var config = HTTPServerConfiguration(address: HostPort(host: "127.0.0.1", port: 0))
        config.loopCount = 1
        config.shutdownGrace = 1
        server = HTTPServer(configuration: config, handler: handler, logger: .disabled())
        port = try server.start().port
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT/api/v10`.
    public func url(_ path: String = "") -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// Every request so far.
    public var requests: [Recorded] { handler.recorded.withLock { $0 } }

    /// Stops the server.
    public func stop() async { await server.shutdown() }

    /// A JSON response.
    public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        var r = HTTPResponse.json(status, Array(text.utf8))
        for (k, v) in headers { r.headers.add(k, v) }
        return r
    }
}
