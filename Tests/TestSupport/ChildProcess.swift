import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real child process (usually `skald`) with captured output, for end-to-end tests.
///
/// Spawned with posix_spawn and reaped with waitpid, not Foundation's `Process`: its SIGCHLD-based monitor
/// was seen to leave an exited child as a zombie that `isRunning` still reported as running.
public final class ChildProcess: Sendable {
    /// The process id.
    public let pid: pid_t
    /// The write end of the child's stdin; -1 once closed (closed exactly once: a second close could hit a
    /// descriptor number another thread has reused).
    private let stdinFD: Mutex<Int32>
    private let stdoutData = LockedBytes()
    private let stderrData = LockedBytes()
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`, the given environment added to a minimal one.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        env.merge(environment) { _, new in new }
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        // O_CLOEXEC at creation: a child spawned concurrently by another test must not inherit these.
        guard pipe2(&inPipe, O_CLOEXEC) == 0, pipe2(&outPipe, O_CLOEXEC) == 0, pipe2(&errPipe, O_CLOEXEC) == 0 else {
            throw POSIXError(.EMFILE)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        let argv = [executable] + arguments
        let envp = env.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = Self.withCStrings(argv) { a in Self.withCStrings(envp) { e in posix_spawn(&pid, executable, &actions, &attr, a, e) } }
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT)
        }
        self.pid = pid
        stdinFD = Mutex(inPipe[1])
        Self.drain(outPipe[0], into: stdoutData)
        Self.drain(errPipe[0], into: stderrData)
    }

    /// The address a `skald api` / `skald up` child logged as "listening" (start it with `SKALD_LISTEN=127.0.0.1:0`).
    public func listeningPort(timeout: Double = 15) async -> UInt16? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for line in stderr.split(separator: "\n") where line.contains("\"msg\":\"listening\"") {
                if let r = line.range(of: #""http.address":"127.0.0.1:"#) {
                    return UInt16(line[r.upperBound...].prefix { $0.isNumber })
                }
            }
            if !isRunning { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Starts the built `skald` binary.
    public static func skald(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(TestPaths.skaldBinary, arguments, environment: environment)
    }

    private static func drain(_ fd: Int32, into sink: LockedBytes) {
        let t = Thread {
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buf, buf.count)
                if n > 0 {
                    sink.append(Data(buf[0..<n]))
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
            sink.finish()
        }
        t.start()
    }

    /// Everything written to stdout so far.
    public var stdout: String { stdoutData.string }

    /// Everything written to stderr so far.
    public var stderr: String { stderrData.string }

    /// Writes to the child's standard input (a child that exited just makes this a no-op).
    public func write(_ text: String) {
        let bytes = Array(text.utf8)
        let fd = stdinFD.withLock { $0 }
        guard fd >= 0 else { return }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 {
                if n < 0, errno == EINTR { continue }
                return
            }
            off += n
        }
    }

    /// Closes the child's standard input.
    public func closeInput() {
        stdinFD.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// True while running.
    public var isRunning: Bool { reap() == nil }

    /// Reaps the child if it has exited; its status (128 + signal when killed), else nil.
    private func reap() -> Int32? {
        exitStatus.withLock { status in
            if let s = status { return s }
            var st: Int32 = 0
            guard waitpid(pid, &st, WNOHANG) == pid else { return nil }
            let s: Int32 = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
            status = s
            return s
        }
    }

    /// Waits up to `timeout` seconds for exit; returns the exit status (or `nil` on timeout). A process killed
    /// by a signal reports 128 + the signal number.
    @discardableResult
    public func wait(timeout: Double = 30) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = reap() {
                await stdoutData.waitFinished(timeout: 2)
                await stderrData.waitFinished(timeout: 2)
                return s
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Waits until stdout (or stderr) contains `text` (or the timeout passes); returns whether it appeared.
    public func waitForOutput(_ text: String, inStderr: Bool = false, timeout: Double = 15) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (inStderr ? stderr : stdout).contains(text) { return true }
            if !isRunning {
                await (inStderr ? stderrData : stdoutData).waitFinished(timeout: 2)
                return (inStderr ? stderr : stdout).contains(text)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Kills the process if still running.
    public func terminate() {
        if isRunning { kill(pid, SIGKILL) }
    }

    deinit {
        if reap() == nil {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            _ = waitpid(pid, &st, 0)
        }
        closeInput()
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        ptrs.append(nil)
        defer { for p in ptrs { free(p) } }
        return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Bytes appended from one thread and read from another.
final class LockedBytes: Sendable {
    private let bytes = Mutex<(data: [UInt8], done: Bool)>(([], false))

    func append(_ data: Data) { bytes.withLock { $0.data.append(contentsOf: data) } }

    func finish() { bytes.withLock { $0.done = true } }

    var string: String { String(decoding: bytes.withLock { $0.data }, as: UTF8.self) }

    func waitFinished(timeout: Double) async {
        let deadline = Date().addingTimeInterval(timeout)
        while !bytes.withLock({ $0.done }), Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}
