import Foundation

/// The local game host: shell commands that start and gracefully stop the game (`SKALD_HOST_START`,
/// `SKALD_HOST_STOP`), e.g. `docker start valheim` and `docker stop -t 120 valheim`.
///
/// Exit status 0 means done. The stop command is expected to save the world (the game saves on SIGTERM /
/// SIGINT), so it gets a generous timeout. Commands for one host never overlap: a stop waits for a start
/// still running.
public final class CommandHostScaleSet: ScaleSet {
    private let startCommand: String
    private let stopCommand: String
    private let address: String
    private let timeout: Double
    private let logger: Logger
    private let serial = AsyncSerialGate()

    /// Creates a host driven by `start` / `stop` commands; `address` is what players connect to.
    public init(startCommand: String, stopCommand: String, address: String, timeout: Double, logger: Logger) {
        self.startCommand = startCommand
        self.stopCommand = stopCommand
        self.address = address
        self.timeout = timeout
        self.logger = logger
    }

    /// `command-hooks`.
    public var backendDescription: String { "command-hooks (\(address))" }

    /// Runs the start (capacity 1) or stop (capacity 0) command and waits for it.
    public func setCapacity(_ capacity: Int) async throws(ScaleError) -> ScaleResult {
        let command = capacity > 0 ? startCommand : stopCommand
        let which = capacity > 0 ? "start" : "stop"
        let outcome: Subprocess.Outcome
        do {
            outcome = try await serial.run {
                self.logger.info("running the host \(which) command", metadata: ["host.command": .string(which)])
                return try await Subprocess.run(command, timeout: self.timeout)
            }
        } catch {
            throw ScaleError("the \(which) command could not be run: \(error)")
        }
        let tail = outcome.output.split(separator: "\n").suffix(20).joined(separator: "\n")
        if outcome.timedOut {
            logger.error("host \(which) command timed out", metadata: ["host.output": .string(tail)])
            throw ScaleError("the \(which) command did not finish within \(Int(timeout)) s", transient: true)
        }
        guard outcome.status == 0 else {
            logger.error(
                "host \(which) command failed",
                metadata: ["host.exit": .int(Int(outcome.status)), "host.output": .string(tail)])
            // The reason is posted to the channel: say what failed, not what the command printed (it may hold
            // paths, hosts or secrets); the output is in the worker's log.
            throw ScaleError("the \(which) command exited with status \(outcome.status) (details in Skald's log)")
        }
        logger.info(
            "host \(which) command done", metadata: ["host.command": .string(which), "host.output": .string(tail)])
        return ScaleResult(capacity: capacity > 0 ? 1 : 0, address: capacity > 0 ? address : nil)
    }
}

/// Runs async operations one at a time, in arrival order.
public actor AsyncSerialGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Creates an open gate.
    public init() {}

    /// Runs `body` once every earlier caller has finished.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            if waiters.isEmpty {
                busy = false
            } else {
                waiters.removeFirst().resume()
            }
        }
        return try await body()
    }
}
