import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Settings for `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
    /// Where to listen (`127.0.0.1:8080`; port 0 picks a free port).
    public var address: HostPort
    /// Size limits (head 16 KiB → 431, body 1 MiB → 413).
    public var limits = HTTPLimits()
    /// Seconds from a request's first byte until its head must be complete (slowloris guard) → 408.
    public var headerTimeout: Double = 10
    /// Seconds from the end of the head until the body must be complete → 408.
    public var bodyTimeout: Double = 30
    /// Seconds an idle keep-alive connection is kept open.
    public var idleTimeout: Double = 60
    /// Seconds a response may take to be written to a slow reader.
    public var writeTimeout: Double = 30
    /// Connections beyond this are answered 503 and closed.
    public var maxConnections: Int = 4096
    /// Event-loop threads (one per core by default).
    public var loopCount: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Seconds to let in-flight requests finish on shutdown before closing their connections.
    public var shutdownGrace: Double = 10

    /// Creates a configuration for `address` with defaults for everything else.
    public init(address: HostPort) {
        self.address = address
    }
}

/// Errors starting the server.
public enum HTTPServerError: Error, CustomStringConvertible {
    /// The address could not be resolved.
    case resolve(String)
    /// A socket call failed.
    case socket(String, Int32)
    /// `start()` was called twice.
    case alreadyStarted

    /// A readable explanation.
    public var description: String {
        switch self {
        case .resolve(let a): "cannot resolve listen address \(a)"
        case .socket(let call, let err): "\(call) failed: \(String(cString: strerror(err)))"
        case .alreadyStarted: "server already started"
        }
    }
}

/// A small HTTP/1.1 server on POSIX sockets with epoll event loops.
///
/// Sockets are non-blocking and every connection is driven by readiness events, so idle or half-sent
/// connections cost nothing but a table entry: a new request is never queued behind them (blocking reads on
/// Dispatch queues starve under exactly that load). Handlers run as tasks; their responses are handed back
/// to the connection's loop. Keep-alive, pipelining, `Content-Length` and chunked bodies, `Expect:
/// 100-continue`, limits (431/413/411), timeouts (408) and a connection cap (503) are built in.
public final class HTTPServer: Service {
    private let core: ServerCore
    private let state = Mutex<ServerState>(ServerState())

    private struct ServerState: Sendable {
        var listenFD: Int32 = -1
        var loops: [EventLoop] = []
        var bound: HostPort?
        var stopped = false
    }

    /// Creates a server; nothing is bound until `start()`.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger) {
        core = ServerCore(configuration: configuration, handler: handler, logger: logger)
    }

    /// Binds, listens and starts the event loops; returns the bound address (with the real port).
    @discardableResult
    public func start() throws -> HostPort {
        try state.withLock { st in
            guard st.listenFD < 0, !st.stopped else { throw HTTPServerError.alreadyStarted }
            signal(SIGPIPE, SIG_IGN)
            Self.raiseFileLimit()
            let (fd, bound) = try Self.listen(on: core.configuration.address)
            st.listenFD = fd
            st.bound = bound
            var loops: [EventLoop] = []
            for i in 0..<max(1, core.configuration.loopCount) {
                let loop = try EventLoop(index: i, core: core, listenFD: fd)
                loops.append(loop)
            }
            st.loops = loops
            for loop in loops { loop.startThread() }
            core.logger.info(
                "listening", metadata: ["http.address": .string(bound.description), "http.loops": .int(loops.count)])
            return bound
        }
    }

    /// The bound address, once started.
    public var localAddress: HostPort? { state.withLock { $0.bound } }

    /// Number of open connections (for tests and health reporting).
    public var connectionCount: Int { core.connectionCount.load(ordering: .relaxed) }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), closes everything.
    public func shutdown() async {
        let (loops, fd) = state.withLock { st -> ([EventLoop], Int32) in
            st.stopped = true
            return (st.loops, st.listenFD)
        }
        guard fd >= 0 else { return }
        for loop in loops { loop.execute { loop.beginDrain() } }
        let deadline = Monotonic.nanoseconds() + UInt64(core.configuration.shutdownGrace * 1e9)
        while !loops.allSatisfy(\.isFinished), Monotonic.nanoseconds() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if !loops.allSatisfy(\.isFinished) {
            core.logger.warning("shutdown grace period over; closing remaining connections")
            for loop in loops { loop.execute { loop.forceClose() } }
            while !loops.allSatisfy(\.isFinished) { try? await Task.sleep(for: .milliseconds(10)) }
        }
        state.withLock { st in
            if st.listenFD >= 0 {
                close(st.listenFD)
                st.listenFD = -1
            }
        }
        core.logger.info("http server stopped")
    }

    /// The service name in logs.
    public var name: String { "http" }

    /// Runs until `shutdown` is triggered, then stops gracefully (a `Service` body).
    public func run(shutdown shutdownSignal: ShutdownSignal) async throws {
        if localAddress == nil { try start() }
        await shutdownSignal.wait()
        await shutdown()
    }

    private static func raiseFileLimit() {
        var lim = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        if getrlimit(resource, &lim) == 0, lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max
            _ = setrlimit(resource, &lim)
        }
    }

    private static func listen(on address: HostPort) throws -> (Int32, HostPort) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let host = address.host == "*" ? nil : address.host
        guard getaddrinfo(host, String(address.port), &hints, &result) == 0, let ai = result else {
            throw HTTPServerError.resolve(address.description)
        }
        defer { freeaddrinfo(result) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPServerError.socket("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.socket("bind \(address)", e)
        }
        guard Glibc.listen(fd, 1024) == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.socket("listen", e)
        }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let port = withUnsafeMutablePointer(to: &storage) { p -> UInt16 in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                guard getsockname(fd, sa, &len) == 0 else { return address.port }
                return SocketAddress.port(sa)
            }
        }
        return (fd, HostPort(host: address.host, port: port))
    }
}

/// State shared by the server and its loops.
final class ServerCore: Sendable {
    let configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    let logger: Logger
    let connectionCount = Atomic<Int>(0)

    init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
    }
}

/// Socket address helpers.
enum SocketAddress {
    static func port(_ sa: UnsafePointer<sockaddr>) -> UInt16 {
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
        default:
            return 0
        }
    }

    private static func cString(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ sa: UnsafePointer<sockaddr>) -> String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                return cString(buf) + ":" + String(UInt16(bigEndian: sin.pointee.sin_port))
            }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                var addr = sin.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                return "[" + cString(buf) + "]:" + String(UInt16(bigEndian: sin.pointee.sin6_port))
            }
        default:
            return "unknown"
        }
    }
}

/// One connection, owned by exactly one loop and touched only on that loop's thread.
final class Connection {
    enum State: Equatable {
        /// Reading a request (idle when nothing of it has arrived yet).
        case reading
        /// A handler is producing the response; reads are paused (pipelined bytes wait in `inbuf`).
        case processing(keepAlive: Bool, isHead: Bool)
        /// A response is being written to a slow reader.
        case writing
        /// Half-closed after an error response: discard what the peer still sends, then close.
        case lingering
    }

    let id: UInt64
    let fd: Int32
    let remote: String
    var state: State = .reading
    var inbuf: [UInt8] = []
    var parser: HTTPRequestParser
    var outbuf: [UInt8] = []
    var outOffset = 0
    var closeAfterWrite = false
    var deadline: UInt64 = 0
    var interest: UInt32 = 0

    init(id: UInt64, fd: Int32, remote: String, limits: HTTPLimits) {
        self.id = id
        self.fd = fd
        self.remote = remote
        self.parser = HTTPRequestParser(limits: limits)
    }

    /// Idle: between requests, nothing of the next one received.
    var isIdle: Bool { state == .reading && inbuf.isEmpty && parser.isAtStart }

    func transition(to next: State) {
        // Checked transitions: a response is only produced for a request being processed, etc.
        switch (state, next) {
        case (.reading, .processing), (.reading, .writing), (.reading, .lingering),
            (.processing, .writing), (.processing, .reading), (.processing, .lingering),
            (.writing, .reading), (.writing, .lingering), (.reading, .reading):
            state = next
        default:
            assertionFailure("invalid connection transition \(state) → \(next)")
            state = next
        }
    }
}

/// An epoll event loop on its own thread.
///
/// Safety of `@unchecked Sendable`: the mutable stored properties (`connections`, `nextID`, `draining`,
/// `listening`, `dateCache`, `scratch`) are read and written only on the loop's own thread — inside `run()`
/// and the closures it executes from `inbox`. Other threads interact only through `execute(_:)`, which goes
/// through the `inbox` Mutex and the eventfd, and through `isFinished`, an atomic.
final class EventLoop: @unchecked Sendable {
    private static let wakeID: UInt64 = 0
    private static let listenID: UInt64 = 1

    let index: Int
    private let core: ServerCore
    private let epfd: Int32
    private let wakefd: Int32
    private let listenFD: Int32
    private let inbox = Mutex<(work: [@Sendable () -> Void], closed: Bool)>(([], false))
    private let finished = Atomic<Bool>(false)

    // Loop-confined state.
    private var connections: [UInt64: Connection] = [:]
    private var nextID: UInt64 = 2
    private var draining = false
    private var listening = false
    private var acceptPausedUntil: UInt64 = 0
    private var dateCache: (second: Int64, value: String) = (0, "")
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(index: Int, core: ServerCore, listenFD: Int32) throws {
        self.index = index
        self.core = core
        self.listenFD = listenFD
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw HTTPServerError.socket("epoll_create1", errno) }
        wakefd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakefd >= 0 else {
            close(epfd)
            throw HTTPServerError.socket("eventfd", errno)
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = Self.wakeID
        epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev)
    }

    deinit {
        scratch.deallocate()
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func startThread() {
        let thread = Thread { [self] in self.run() }
        thread.name = "skald-http-\(index)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Runs `work` on the loop's thread.
    func execute(_ work: @escaping @Sendable () -> Void) {
        // The write happens under the lock so it can never hit the eventfd after the loop closed it (its
        // number may belong to another file by then). Work for a finished loop is dropped.
        inbox.withLock { q in
            guard !q.closed else { return }
            let wasEmpty = q.work.isEmpty
            q.work.append(work)
            if wasEmpty { eventfd_write(wakefd, 1) }
        }
    }

    private func run() {
        startListening()
        let maxEvents: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(maxEvents))
        defer { events.deallocate() }
        var nextSweep = Monotonic.nanoseconds() + 100_000_000
        while true {
            let n = epoll_wait(epfd, events, maxEvents, 100)
            if n > 0 {
                for i in 0..<Int(n) {
                    let ev = events[i]
                    switch ev.data.u64 {
                    case Self.wakeID:
                        var v: eventfd_t = 0
                        eventfd_read(wakefd, &v)
                    case Self.listenID:
                        acceptBatch()
                    default:
                        if let conn = connections[ev.data.u64] { handle(conn, events: ev.events) }
                    }
                }
            }
            runInbox()
            let now = Monotonic.nanoseconds()
            if now >= nextSweep {
                sweep(now: now)
                nextSweep = now + 100_000_000
                if !listening, !draining, acceptPausedUntil != 0, now >= acceptPausedUntil { startListening() }
            }
            if draining, connections.isEmpty { break }
        }
        runInbox()
        inbox.withLock { q in
            q.closed = true
            q.work = []
            close(wakefd)
        }
        close(epfd)
        finished.store(true, ordering: .releasing)
    }

    private func runInbox() {
        let work = inbox.withLock { q -> [@Sendable () -> Void] in
            let w = q.work
            q.work.removeAll(keepingCapacity: true)
            return w
        }
        for w in work { w() }
    }

    // MARK: accepting

    private func startListening() {
        guard !listening, !draining else { return }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        ev.data.u64 = Self.listenID
        if epoll_ctl(epfd, EPOLL_CTL_ADD, listenFD, &ev) == 0 { listening = true }
        acceptPausedUntil = 0
    }

    private func stopListening() {
        guard listening else { return }
        var ev = epoll_event()
        epoll_ctl(epfd, EPOLL_CTL_DEL, listenFD, &ev)
        listening = false
    }

    private func acceptBatch() {
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    accept4(listenFD, sa, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop polling the listener briefly instead of spinning on it.
                    core.logger.error("accept failed: out of file descriptors; pausing accepts")
                    stopListening()
                    acceptPausedUntil = Monotonic.nanoseconds() + 200_000_000
                    return
                default:
                    return
                }
            }
            let count = core.connectionCount.wrappingAdd(1, ordering: .relaxed).newValue
            if count > core.configuration.maxConnections {
                let reply = Array(
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                        .utf8)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                core.connectionCount.wrappingSubtract(1, ordering: .relaxed)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let remote = withUnsafePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress.describe($0) }
            }
            let conn = Connection(id: nextID, fd: fd, remote: remote, limits: core.configuration.limits)
            nextID += 1
            connections[conn.id] = conn
            var ev = epoll_event()
            conn.interest = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            ev.events = conn.interest
            ev.data.u64 = conn.id
            epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
            conn.deadline = deadline(core.configuration.idleTimeout)
        }
    }

    // MARK: connection events

    private func handle(_ conn: Connection, events: UInt32) {
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            closeConnection(conn)
            return
        }
        if events & EPOLLOUT.rawValue != 0, conn.state == .writing || !conn.outbuf.isEmpty {
            flush(conn)
            if connections[conn.id] == nil { return }
        }
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 {
            switch conn.state {
            case .reading: readRequest(conn)
            case .lingering: drainLinger(conn)
            case .processing, .writing: break
            }
        }
    }

    private func readRequest(_ conn: Connection) {
        let n = read(conn.fd, scratch.baseAddress, scratch.count)
        if n > 0 {
            let wasIdle = conn.inbuf.isEmpty && conn.parser.isAtStart
            conn.inbuf.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            if wasIdle { conn.deadline = deadline(core.configuration.headerTimeout) }
            processInput(conn)
        } else if n == 0 {
            // The peer closed its side. An idle connection simply ends; a half-sent request cannot complete.
            if conn.isIdle {
                closeConnection(conn)
            } else {
                respondError(conn, status: 400, reason: "connection closed before the request was complete")
            }
        } else if errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
            closeConnection(conn)
        }
    }

    private func processInput(_ conn: Connection) {
        let wasReadingBody = conn.parser.isReadingBody
        switch conn.parser.parse(conn.inbuf) {
        case .needMore(let sendContinue):
            if !wasReadingBody, conn.parser.isReadingBody {
                conn.deadline = deadline(core.configuration.bodyTimeout)
            }
            if sendContinue {
                conn.outbuf.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
                flushInterim(conn)
            }
        case .complete(let head, let body, let consumed):
            conn.inbuf.removeSubrange(0..<consumed)
            conn.parser = HTTPRequestParser(limits: core.configuration.limits)
            let request = HTTPRequest(
                method: head.method, target: head.target, minorVersion: head.minorVersion,
                headers: HTTPHeaders(head.fields.map { ($0.name, $0.value) }), body: body,
                remoteAddress: conn.remote)
            conn.transition(to: .processing(keepAlive: head.keepAlive, isHead: head.method == "HEAD"))
            setInterest(conn, 0)
            dispatch(request, connectionID: conn.id)
        case .invalid(let status, let reason):
            respondError(conn, status: status, reason: reason)
        }
    }

    private func dispatch(_ request: HTTPRequest, connectionID: UInt64) {
        let handler = core.handler
        Task { [self] in
            let response = await handler.handle(request)
            self.execute { self.complete(connectionID: connectionID, response: response) }
        }
    }

    private func complete(connectionID: UInt64, response: HTTPResponse) {
        // The connection may have been closed by the peer or a forced shutdown meanwhile.
        guard let conn = connections[connectionID], case .processing(let keepAlive, let isHead) = conn.state else {
            return
        }
        let close =
            !keepAlive || draining
            || response.headers.values("Connection").contains { $0.lowercased().contains("close") }
        appendOutput(conn, serialize(response, keepAlive: !close, omitBody: isHead))
        conn.closeAfterWrite = close
        conn.transition(to: .writing)
        conn.deadline = deadline(core.configuration.writeTimeout)
        flush(conn)
    }

    private func respondError(_ conn: Connection, status: Int, reason: String) {
        core.logger.debug(
            "rejected request",
            metadata: ["http.status": .int(status), "http.reason": .string(reason), "http.remote": .string(conn.remote)])
        var response = HTTPResponse.error(status, reason)
        response.headers.add("Connection", "close")
        appendOutput(conn, serialize(response, keepAlive: false, omitBody: false))
        conn.closeAfterWrite = true
        conn.transition(to: .writing)
        conn.deadline = deadline(core.configuration.writeTimeout)
        flush(conn)
    }

    /// Queues bytes after whatever is still unsent (an interim `100 Continue` may be pending).
    private func appendOutput(_ conn: Connection, _ bytes: [UInt8]) {
        if conn.outOffset < conn.outbuf.count {
            conn.outbuf = Array(conn.outbuf[conn.outOffset...]) + bytes
        } else {
            conn.outbuf = bytes
        }
        conn.outOffset = 0
    }

    private enum SendResult {
        case done
        case wouldBlock
        case failed
    }

    /// Sends what is pending in `outbuf`, as far as the socket takes it.
    private func sendPending(_ conn: Connection) -> SendResult {
        while conn.outOffset < conn.outbuf.count {
            let n = conn.outbuf.withUnsafeBytes { raw in
                send(conn.fd, raw.baseAddress! + conn.outOffset, raw.count - conn.outOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                conn.outOffset += n
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                return .wouldBlock
            } else {
                return .failed
            }
        }
        return .done
    }

    /// Writes an interim response (100 Continue) while the connection keeps reading.
    private func flushInterim(_ conn: Connection) {
        switch sendPending(conn) {
        case .done:
            conn.outbuf.removeAll(keepingCapacity: true)
            conn.outOffset = 0
        case .wouldBlock:
            setInterest(conn, EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLOUT.rawValue)
        case .failed:
            closeConnection(conn)
        }
    }

    private func flush(_ conn: Connection) {
        if conn.state == .reading {
            // Only an interim response can be pending while reading.
            flushInterim(conn)
            if connections[conn.id] != nil, conn.outbuf.isEmpty {
                setInterest(conn, EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            }
            return
        }
        switch sendPending(conn) {
        case .done: break
        case .wouldBlock:
            setInterest(conn, EPOLLOUT.rawValue)
            return
        case .failed:
            closeConnection(conn)
            return
        }
        conn.outbuf = []
        conn.outOffset = 0
        if conn.closeAfterWrite {
            beginLinger(conn)
            return
        }
        conn.transition(to: .reading)
        setInterest(conn, EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
        if conn.inbuf.isEmpty {
            conn.deadline = deadline(core.configuration.idleTimeout)
        } else {
            // Pipelined bytes already arrived: parse the next request now.
            conn.deadline = deadline(core.configuration.headerTimeout)
            processInput(conn)
        }
    }

    private func beginLinger(_ conn: Connection) {
        shutdown(conn.fd, Int32(SHUT_WR))
        conn.transition(to: .lingering)
        conn.inbuf = []
        // Long enough for the peer to read the response before a reset could destroy it; short while draining.
        conn.deadline = deadline(draining ? 0.25 : 2)
        setInterest(conn, EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
    }

    private func drainLinger(_ conn: Connection) {
        let n = read(conn.fd, scratch.baseAddress, scratch.count)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            closeConnection(conn)
        }
    }

    private func setInterest(_ conn: Connection, _ events: UInt32) {
        guard conn.interest != events else { return }
        conn.interest = events
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = conn.id
        epoll_ctl(epfd, EPOLL_CTL_MOD, conn.fd, &ev)
    }

    private func closeConnection(_ conn: Connection) {
        guard connections.removeValue(forKey: conn.id) != nil else { return }
        var ev = epoll_event()
        epoll_ctl(epfd, EPOLL_CTL_DEL, conn.fd, &ev)
        close(conn.fd)
        core.connectionCount.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: timeouts and shutdown

    private func sweep(now: UInt64) {
        for conn in Array(connections.values) where conn.deadline <= now {
            switch conn.state {
            case .reading:
                if conn.isIdle {
                    closeConnection(conn)
                } else {
                    respondError(conn, status: 408, reason: "request not received in time")
                }
            case .writing, .lingering:
                closeConnection(conn)
            case .processing:
                break
            }
        }
    }

    func beginDrain() {
        draining = true
        stopListening()
        for conn in Array(connections.values) where conn.isIdle || conn.state == .lingering {
            closeConnection(conn)
        }
    }

    func forceClose() {
        draining = true
        stopListening()
        for conn in Array(connections.values) { closeConnection(conn) }
    }

    private func deadline(_ seconds: Double) -> UInt64 {
        Monotonic.nanoseconds() + UInt64(max(0, seconds) * 1e9)
    }

    // MARK: serialisation

    private func serialize(_ response: HTTPResponse, keepAlive: Bool, omitBody: Bool) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(160 + response.body.count)
        out.append(contentsOf: "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n".utf8)
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        for f in response.headers.fields {
            if f.name.caseInsensitiveEquals("Content-Length") || f.name.caseInsensitiveEquals("Connection")
                || f.name.caseInsensitiveEquals("Transfer-Encoding") || f.name.caseInsensitiveEquals("Date")
            {
                continue
            }
            out.append(contentsOf: f.name.utf8)
            out.append(contentsOf: ": ".utf8)
            // Never let a handler's value split the response.
            out.append(contentsOf: f.value.utf8.filter { $0 != 0x0D && $0 != 0x0A })
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: httpDate().utf8)
        out.append(contentsOf: "\r\n".utf8)
        if !bodyless {
            out.append(contentsOf: "Content-Length: \(response.body.count)\r\n".utf8)
        }
        out.append(contentsOf: (keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n").utf8)
        if !omitBody, !bodyless { out.append(contentsOf: response.body) }
        return out
    }

    private func httpDate() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let sec = Int64(ts.tv_sec)
        if sec != dateCache.second { dateCache = (sec, HTTPDate.format(unixSeconds: sec)) }
        return dateCache.value
    }
}

/// IMF-fixdate formatting for the `Date` header.
enum HTTPDate {
    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(unixSeconds: Int64) -> String {
        let (y, m, d, hh, mm, ss) = Timestamp.civil(fromUnix: unixSeconds)
        let dayIndex = Int(((unixSeconds / 86_400) % 7 + 7) % 7)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[dayIndex]), \(two(d)) \(months[m - 1]) \(y) \(two(hh)):\(two(mm)):\(two(ss)) GMT"
    }
}
