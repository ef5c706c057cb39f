import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real child process (usually `skald`) with captured output, for end-to-end tests.
public final class ChildProcess: @unchecked Sendable {
    // Safety: `process` and the pipes are set up in init and only read afterwards; captured output lives in
    // Mutex-protected buffers filled by the pipes' reader threads.
    private let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let stdinPipe = Pipe()
    private let stdoutData = LockedBytes()
    private let stderrData = LockedBytes()

    /// Starts `executable` with `arguments`, the given environment added to a minimal one.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        currentDirectory: String? = nil
    ) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        env.merge(environment) { _, new in new }
        process.environment = env
        if let dir = currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: dir) }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe
        let out = stdoutData
        let err = stderrData
        stdoutPipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            out.append(d)
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            err.append(d)
        }
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        try process.run()
    }

    /// Starts the built `skald` binary.
    public static func skald(_ arguments: [String], environment: [String: String] = [:], currentDirectory: String? = nil)
        throws -> ChildProcess
    {
        try ChildProcess(TestPaths.skaldBinary, arguments, environment: environment, currentDirectory: currentDirectory)
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Everything written to stdout so far.
    public var stdout: String { stdoutData.string }

    /// Everything written to stderr so far.
    public var stderr: String { stderrData.string }

    /// Writes to the child's standard input.
    public func write(_ text: String) {
        // A child that died closes the pipe: ignore the error instead of dying of SIGPIPE.
        try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Closes the child's standard input.
    public func closeInput() {
        try? stdinPipe.fileHandleForWriting.close()
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) {
        kill(process.processIdentifier, sig)
    }

    /// True while running.
    public var isRunning: Bool { process.isRunning }

    /// Waits up to `timeout` seconds for exit; returns the exit status (or `nil` on timeout). A process killed
    /// by a signal reports 128 + the signal number.
    @discardableResult
    public func wait(timeout: Double = 30) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        guard !process.isRunning else { return nil }
        // Let the reader threads drain the pipes.
        try? await Task.sleep(for: .milliseconds(30))
        if process.terminationReason == .uncaughtSignal { return 128 + process.terminationStatus }
        return process.terminationStatus
    }

    /// Waits until stdout contains `text` (or the timeout passes); returns whether it appeared.
    public func waitForOutput(_ text: String, inStderr: Bool = false, timeout: Double = 15) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (inStderr ? stderr : stdout).contains(text) { return true }
            if !process.isRunning {
                try? await Task.sleep(for: .milliseconds(30))
                return (inStderr ? stderr : stdout).contains(text)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Kills the process if still running.
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }
}

/// Bytes appended from one thread and read from another.
final class LockedBytes: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    func append(_ data: Data) { bytes.withLock { $0.append(contentsOf: data) } }

    var string: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}
