import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP response as a test reads it.
public struct RawResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Header fields (names lowercased).
    public var headers: [String: String]
    /// Body bytes.
    public var body: [UInt8]
    /// Body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
    /// Body as a JSON object.
    public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
}

/// A blocking TCP connection for sending exactly the bytes a test wants (malformed ones included).
///
/// Safety of `@unchecked Sendable`: a test drives one connection from one task at a time; the async
/// wrappers only move the blocking call to another thread while that task awaits it.
public final class RawConnection: @unchecked Sendable {
    /// The socket.
    public let fd: Int32
    private var pending: [UInt8] = []

    /// Connects to `127.0.0.1:port` (or another host).
    public init(port: UInt16, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // On failure the deinit closes the socket (a class whose properties are all set is deinitialised
        // even when its init throws), so it must not be closed here too.
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Sends raw bytes (returns false if the peer reset the connection).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Sends text.
    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Closes the write side.
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads one response (Content-Length framed, or until close), waiting up to `timeout` seconds.
    public func readResponse(timeout: Double = 5, isHead: Bool = false) -> RawResponse? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let (response, used) = Self.parse(pending, isHead: isHead, closed: false) {
                pending.removeFirst(used)
                return response
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(max(1, remaining * 1000)))
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 {
                // Closed: a response without Content-Length ends here.
                if let (response, used) = Self.parse(pending, isHead: isHead, closed: true) {
                    pending.removeFirst(used)
                    return response
                }
                return nil
            }
            pending.append(contentsOf: buf[0..<n])
        }
    }

    /// `readResponse` on its own thread (never blocks the cooperative pool).
    public func response(timeout: Double = 5, isHead: Bool = false) async -> RawResponse? {
        (try? await Blocking.run { self.readResponse(timeout: timeout, isHead: isHead) }) ?? nil
    }

    /// `waitForClose` on its own thread.
    public func closed(timeout: Double = 5) async -> Bool {
        (try? await Blocking.run { self.waitForClose(timeout: timeout) }) ?? false
    }

    /// True if the server closed the connection within `timeout` seconds (reading and discarding data).
    public func waitForClose(timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return true }
            pending.append(contentsOf: buf[0..<n])
        }
        return false
    }

    static func parse(_ data: [UInt8], isHead: Bool, closed: Bool) -> (RawResponse, Int)? {
        guard let end = find(Array("\r\n\r\n".utf8), in: data) else { return nil }
        let head = String(decoding: data[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = end + 4
        if status < 200 {
            // Interim response (100 Continue): return it on its own.
            return (RawResponse(status: status, headers: headers, body: []), bodyStart)
        }
        if isHead || status == 204 || status == 304 { return (RawResponse(status: status, headers: headers, body: []), bodyStart) }
        if let cl = headers["content-length"].flatMap(Int.init) {
            guard data.count >= bodyStart + cl else { return nil }
            return (RawResponse(status: status, headers: headers, body: Array(data[bodyStart..<(bodyStart + cl)])), bodyStart + cl)
        }
        guard closed else { return nil }
        return (RawResponse(status: status, headers: headers, body: Array(data[bodyStart...])), data.count)
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// Runs blocking work on its own thread, so tests never block the cooperative pool that servers under test
/// need for their handlers.
public enum Blocking {
    /// Runs `body` on a new thread and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let t = Thread { c.resume(with: Result { try body() }) }
            t.start()
        }
    }
}

/// Convenience for well-formed requests.
public enum HTTPTest {
    /// Sends one request on a new connection and reads the response (on its own thread).
    public static func request(
        port: UInt16, method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Double = 10
    ) async throws -> RawResponse {
        try await Blocking.run {
            try requestBlocking(port: port, method: method, path: path, headers: headers, body: body, timeout: timeout)
        }
    }

    /// The blocking form of `request`.
    public static func requestBlocking(
        port: UInt16, method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Double = 10
    ) throws -> RawResponse {
        let c = try RawConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if method != "GET" && method != "HEAD" || !body.isEmpty { head += "Content-Length: \(body.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        c.send(Array(head.utf8) + body)
        guard let r = c.readResponse(timeout: timeout, isHead: method == "HEAD") else {
            throw POSIXError(.ETIMEDOUT)
        }
        return r
    }

    /// A signed Discord interaction POST.
    public static func interaction(
        port: UInt16, key: Ed25519SigningKey, body: [UInt8], timestamp: String = String(Int(Date().timeIntervalSince1970))
    ) async throws -> RawResponse {
        let sig = key.signDiscord(timestamp: timestamp, body: body)
        return try await request(
            port: port, method: "POST", path: "/interactions",
            headers: [("X-Signature-Ed25519", sig), ("X-Signature-Timestamp", timestamp), ("Content-Type", "application/json")],
            body: body)
    }
}
