import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Wakes every waiting task when fired; waiters can pass the generation they last saw so that a fire
/// between "check" and "wait" is never missed. Waiting is cancellation-aware.
public final class Broadcast: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var sticky = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelledBeforeWaiting: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Creates a broadcast that has never fired.
    public init() {}

    /// Increases with every fire.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every current waiter. With `sticky`, every later wait returns at once too.
    public func fire(sticky: Bool = false) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            if sticky { s.sticky = true }
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return w
        }
        for w in waiters { w.resume() }
    }

    /// Returns when fired after `generation` was observed (at once if that already happened), or when the
    /// calling task is cancelled.
    public func wait(after generation: UInt64? = nil) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.sticky || s.cancelledBeforeWaiting.remove(id) != nil { return true }
                    if let g = generation, s.generation != g { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                s.cancelledBeforeWaiting.insert(id)
                return nil
            }
            c?.resume()
        }
        // An id cancelled after it was resumed normally leaves nothing behind worth keeping.
        _ = state.withLock { $0.cancelledBeforeWaiting.remove(id) }
    }

    /// Waits as `wait(after:)` does, but at most `seconds`.
    public func wait(after generation: UInt64? = nil, timeout seconds: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: generation) }
            group.addTask { try? await Task.sleep(for: .microseconds(Int64(max(0, seconds) * 1_000_000))) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// A one-shot signal that graceful shutdown has begun; any number of tasks can wait for it.
public final class ShutdownSignal: Sendable {
    private let broadcast = Broadcast()
    private let triggered = Mutex(false)

    /// Creates an untriggered signal.
    public init() {}

    /// True once triggered.
    public var isTriggered: Bool { triggered.withLock { $0 } }

    /// Triggers the signal (idempotent) and wakes every waiter.
    public func trigger() {
        triggered.withLock { $0 = true }
        broadcast.fire(sticky: true)
    }

    /// Returns once the signal has been triggered, or when the calling task is cancelled.
    public func wait() async { await broadcast.wait() }

    /// Sleeps for `seconds` or until the signal triggers, whichever comes first. Returns true if triggered.
    @discardableResult
    public func sleep(seconds: Double) async -> Bool {
        if isTriggered { return true }
        await broadcast.wait(timeout: seconds)
        return isTriggered
    }
}

/// A long-running part of a process (HTTP server, worker, watcher), run by a `ServiceGroup`.
public protocol Service: Sendable {
    /// A short name for logs.
    var name: String { get }
    /// Runs until `shutdown` is triggered, then returns after finishing or releasing in-flight work.
    /// Throwing stops the whole group.
    func run(shutdown: ShutdownSignal) async throws
}

/// Runs services together; SIGTERM or SIGINT (or one service failing) shuts them all down gracefully.
public struct ServiceGroup: Sendable {
    private let services: [any Service]
    private let logger: Logger
    private let signals: [Int32]

    /// Creates a group. `signals` are the signals that begin a graceful shutdown.
    public init(services: [any Service], logger: Logger, signals: [Int32] = [SIGTERM, SIGINT]) {
        self.services = services
        self.logger = logger
        self.signals = signals
    }

    /// Runs every service until all have returned. Rethrows the first service error, after the others stopped.
    public func run(shutdown: ShutdownSignal = ShutdownSignal()) async throws {
        let sources = installSignalHandlers(shutdown: shutdown)
        defer {
            for s in sources { s.cancel() }
        }
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask {
                    do {
                        try await service.run(shutdown: shutdown)
                        logger.debug("service stopped", metadata: ["service": .string(service.name)])
                    } catch {
                        logger.error(
                            "service failed", metadata: ["service": .string(service.name), "error": .string("\(error)")])
                        shutdown.trigger()
                        throw error
                    }
                }
            }
            var firstError: (any Error)?
            while let result = await group.nextResult() {
                if case .failure(let e) = result, firstError == nil { firstError = e }
                // When one service returns on its own (e.g. a one-shot job), the others keep running.
            }
            if let e = firstError { throw e }
        }
    }

    private func installSignalHandlers(shutdown: ShutdownSignal) -> [any DispatchSourceSignal] {
        let logger = self.logger
        return signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if shutdown.isTriggered {
                    logger.warning("second signal: exiting now", metadata: ["signal": .int(Int(sig))])
                    exit(1)
                }
                logger.notice("shutting down gracefully", metadata: ["signal": .int(Int(sig))])
                shutdown.trigger()
            }
            source.resume()
            return source
        }
    }
}
