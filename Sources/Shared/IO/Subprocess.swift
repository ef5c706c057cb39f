import CLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs shell commands as child processes in their own process group, with a timeout and captured output.
public enum Subprocess {
    /// How a command ended.
    public struct Outcome: Sendable, Equatable {
        /// Exit status (0 = success), or 128 + signal when killed by a signal.
        public var status: Int32
        /// Combined stdout and stderr, capped (the tail is kept).
        public var output: String
        /// True when the command was killed for running past its timeout.
        public var timedOut: Bool
    }

    /// Errors starting a command.
    public struct SpawnError: Error, CustomStringConvertible {
        /// errno from posix_spawn or pipe.
        public var code: Int32
        /// A readable explanation.
        public var description: String { "cannot start /bin/sh: \(String(cString: strerror(code)))" }
    }

    /// Runs `/bin/sh -c command` and waits for it, without blocking the cooperative pool.
    ///
    /// The command gets `/dev/null` as stdin. It is done when the shell exits — background children it
    /// leaves behind keep running (a start hook may launch the game that way). Past `timeout` seconds the
    /// whole process group gets SIGTERM, then SIGKILL 5 seconds later.
    public static func run(_ command: String, timeout: Double, environment: [String: String]? = nil, outputLimit: Int = 16 * 1024)
        async throws -> Outcome
    {
        try await withCheckedThrowingContinuation { c in
            let thread = Thread {
                c.resume(with: Result { try runBlocking(command, timeout: timeout, environment: environment, outputLimit: outputLimit) })
            }
            thread.name = "skald-subprocess"
            thread.start()
        }
    }

    /// The blocking form of `run` (for a dedicated thread).
    public static func runBlocking(_ command: String, timeout: Double, environment: [String: String]? = nil, outputLimit: Int = 16 * 1024)
        throws -> Outcome
    {
        let (pid, readFD) = try spawn(["/bin/sh", "-c", command], environment: environment, mergeOutput: true)
        var keepDraining = false
        defer {
            if keepDraining {
                // Children the shell left running (a game started in the background) still hold the pipe:
                // keep reading it until they close it, or their next write would kill them with SIGPIPE.
                let drain = Thread {
                    var sink = [UInt8](repeating: 0, count: 4096)
                    let flags = fcntl(readFD, F_GETFL)
                    _ = fcntl(readFD, F_SETFL, flags & ~O_NONBLOCK)
                    while read(readFD, &sink, sink.count) > 0 {}
                    close(readFD)
                }
                drain.start()
            } else {
                close(readFD)
            }
        }
        var output = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 8192)
        // Capped at a year: a huge timeout means "never", not an overflow.
        let deadline = Monotonic.nanoseconds() + UInt64(min(max(0, timeout), 365 * 86_400) * 1e9)
        var killDeadline: UInt64?
        var timedOut = false
        var status: Int32 = 0
        var exited = false
        var pipeOpen = true
        while !exited {
            if pipeOpen {
                var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 100) > 0 {
                    let n = read(readFD, &buf, buf.count)
                    if n > 0 {
                        output.append(contentsOf: buf[0..<n])
                        if output.count > outputLimit * 2 { output.removeFirst(output.count - outputLimit) }
                    } else if n == 0 {
                        pipeOpen = false
                    }
                }
            } else {
                usleep(20_000)
            }
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid {
                exited = true
                status = Self.decode(st)
            } else if r < 0, errno != EINTR {
                exited = true
                status = 1
            }
            let now = Monotonic.nanoseconds()
            if !exited, !timedOut, now >= deadline {
                timedOut = true
                kill(-pid, SIGTERM)
                killDeadline = now + 5_000_000_000
            } else if !exited, let k = killDeadline, now >= k {
                kill(-pid, SIGKILL)
                killDeadline = nil
            }
        }
        // Take what the shell wrote before it exited; do not wait on children it left running.
        let flags = fcntl(readFD, F_GETFL)
        _ = fcntl(readFD, F_SETFL, flags | O_NONBLOCK)
        while pipeOpen {
            let n = read(readFD, &buf, buf.count)
            if n > 0 {
                output.append(contentsOf: buf[0..<n])
            } else {
                // 0: every writer closed it. EAGAIN: a child the shell left running still holds it.
                keepDraining = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                break
            }
        }
        if output.count > outputLimit { output.removeFirst(output.count - outputLimit) }
        return Outcome(status: status, output: String(decoding: output, as: UTF8.self), timedOut: timedOut)
    }

    /// Starts `argv` in a new process group with stdin from /dev/null and stdout (and stderr, when
    /// `mergeOutput`) into a pipe; returns the pid and the pipe's read end.
    public static func spawn(_ argv: [String], environment: [String: String]? = nil, mergeOutput: Bool) throws -> (pid_t, Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw SpawnError(code: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, mergeOutput ? fds[1] : 2, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let env = (environment ?? childEnvironment()).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in posix_spawnp(&pid, argv[0], &actions, &attr, cargv, cenv) }
        }
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw SpawnError(code: rc)
        }
        return (pid, fds[0])
    }

    /// This process's environment without its secrets (bot token, ingest token, cloud keys): hooks, `docker
    /// logs` and watched commands get what they need to run, not Skald's credentials.
    public static func childEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            !(Redaction.isSensitive(key: key) || key.hasPrefix("DISCORD_") || key == "AzureWebJobsStorage"
                || key.uppercased().contains("CONNECTION_STRING"))
        }
    }

    static func decode(_ st: Int32) -> Int32 {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        if st & 0x7f == 0 { return (st >> 8) & 0xff }
        return 128 + (st & 0x7f)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        ptrs.append(nil)
        defer { for p in ptrs { free(p) } }
        return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
