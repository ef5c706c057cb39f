import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// Lines from a child process's output (`docker logs -f …`, or any command), restarted with backoff when it
/// exits (a container restart ends `docker logs -f`).
public final class ProcessSource: LogSource {
    /// How lines are named and resumed.
    public enum Kind {
        /// `docker logs -f --timestamps --since <cursor> NAME`: resumable by timestamp.
        case docker(container: String, dockerPath: String)
        /// `/bin/sh -c CMD`: not resumable; each run is named by its start time.
        case command(String)
    }

    private let kind: Kind
    private let maxLine: Int
    private let logger: Logger
    private var pid: pid_t = 0
    private var fd: Int32 = -1
    private var splitter: LineSplitter
    private var ready: [SourceLine] = []
    private var readyPositions: [SourcePosition] = []
    private var current: SourcePosition
    private var lastTimestamp: String?
    private var countAtTimestamp = 0
    private var skipUntil: (timestamp: String, count: Int)?
    private var runID = ""
    private var restartAt: UInt64 = 0
    private var backoff: Double = 1
    private var startedAt: UInt64 = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)

    /// Creates a source; for docker, `position` resumes after the last line handed out before.
    public init(kind: Kind, resumeFrom position: SourcePosition?, maxLine: Int = 64 * 1024, logger: Logger) {
        self.kind = kind
        self.maxLine = maxLine
        self.logger = logger
        splitter = LineSplitter(maxLine: maxLine, startOffset: 0)
        if case .docker(let ts, let count) = position {
            skipUntil = (ts, count)
            lastTimestamp = ts
            countAtTimestamp = count
            current = position!
        } else {
            current = .none
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// `docker:<name>` or `command:<cmd>`.
    public var description: String {
        switch kind {
        case .docker(let c, _): "docker:\(c)"
        case .command(let c): "command:\(c)"
        }
    }

    /// The last handed-out line's position (docker), or `.none`.
    public var position: SourcePosition { current }

    /// Stops the child process.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        if pid > 0 {
            kill(-pid, SIGTERM)
            var st: Int32 = 0
            for _ in 0..<50 {
                if waitpid(pid, &st, WNOHANG) == pid { break }
                usleep(10_000)
            }
            kill(-pid, SIGKILL)
            _ = waitpid(pid, &st, WNOHANG)
        }
        pid = 0
    }

    /// Up to `max` lines, waiting up to `wait` seconds.
    public func readLines(max: Int, wait: Double) -> [SourceLine] {
        let deadline = Monotonic.nanoseconds() + UInt64(wait * 1e9)
        while true {
            if !ready.isEmpty {
                let n = min(max, ready.count)
                let out = Array(ready.prefix(n))
                current = readyPositions[n - 1]
                ready.removeFirst(n)
                readyPositions.removeFirst(n)
                return out
            }
            let now = Monotonic.nanoseconds()
            if fd < 0 {
                if now >= restartAt { start() }
                if fd < 0 {
                    guard now < deadline else { return [] }
                    usleep(useconds_t(min(100_000, (deadline - now) / 1000)))
                    continue
                }
            }
            guard now < deadline else { return [] }
            let ms = Int32(Swift.max(1, Swift.min(250, (deadline - now) / 1_000_000)))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, ms) > 0 else { continue }
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { bytes, start, _ in
                    accept(bytes, offset: start)
                }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                splitter.flushPartial { bytes, start, _ in accept(bytes, offset: start) }
                exited()
            }
        }
    }

    private func start() {
        let argv: [String]
        switch kind {
        case .docker(let container, let docker):
            var a = [docker, "logs", "--follow", "--timestamps"]
            if let ts = skipUntil?.timestamp ?? lastTimestamp { a += ["--since", ts] }
            a.append(container)
            argv = a
            // Lines at or before the last one handed out will come again: skip them.
            if let ts = lastTimestamp { skipUntil = (ts, countAtTimestamp) }
        case .command(let cmd):
            argv = ["/bin/sh", "-c", cmd]
        }
        do {
            (pid, fd) = try Subprocess.spawn(argv, mergeOutput: true)
            startedAt = Monotonic.nanoseconds()
            runID = String(Int(Date().timeIntervalSince1970 * 1000))
            splitter.reset(to: 0)
            logger.info("log source started", metadata: ["source": .string(description)])
        } catch {
            logger.error("cannot start the log source", metadata: ["source": .string(description), "error": .string("\(error)")])
            scheduleRestart()
        }
    }

    private func exited() {
        Glibc.close(fd)
        fd = -1
        var st: Int32 = 0
        _ = waitpid(pid, &st, 0)
        pid = 0
        // A run that lasted a while resets the backoff; a command that dies at once backs off up to 30 s.
        if Monotonic.nanoseconds() - startedAt > 30_000_000_000 { backoff = 1 }
        logger.warning(
            "log source exited; restarting", metadata: ["source": .string(description), "retry_in_s": .double(backoff)])
        scheduleRestart()
    }

    private func scheduleRestart() {
        restartAt = Monotonic.nanoseconds() + UInt64(backoff * 1e9)
        backoff = min(30, backoff * 2)
    }

    private func accept(_ bytes: [UInt8], offset: Int64) {
        switch kind {
        case .command(let cmd):
            let tag = Hex.encode(Array(Digest.sha256(cmd).prefix(4)))
            ready.append(SourceLine(bytes: bytes, key: "cmd-\(tag)-\(runID):\(offset)"))
            readyPositions.append(.none)
        case .docker(let container, _):
            // `2026-11-22T10:00:00.123456789Z <line>`
            guard let space = bytes.firstIndex(of: 0x20), space >= 20, bytes[space - 1] == UInt8(ascii: "Z") else {
                logger.warning(
                    "docker logs printed a line without a timestamp",
                    metadata: ["line": .string(String(decoding: bytes.prefix(200), as: UTF8.self))])
                return
            }
            let ts = String(decoding: bytes[0..<space], as: UTF8.self)
            if ts == lastTimestamp {
                countAtTimestamp += 1
            } else {
                lastTimestamp = ts
                countAtTimestamp = 1
            }
            if let skip = skipUntil {
                if ts < skip.timestamp || (ts == skip.timestamp && countAtTimestamp <= skip.count) { return }
                skipUntil = nil
            }
            ready.append(SourceLine(bytes: Array(bytes[(space + 1)...]), key: "docker-\(container):\(ts):\(countAtTimestamp)"))
            readyPositions.append(.docker(timestamp: ts, count: countAtTimestamp))
        }
    }
}
