import Foundation
import Shared
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Paths the tests need: fixtures, the built `skald` binary, temporary folders.
public enum TestPaths {
    /// `Tests/Fixtures`.
    public static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    /// The repository's root folder.
    public static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A fixture file's URL.
    public static func fixture(_ relativePath: String) -> URL { fixtures.appendingPathComponent(relativePath) }

    /// The `skald` executable built next to the test bundle (`SKALD_BINARY` overrides).
    public static var skaldBinary: String {
        if let p = ProcessInfo.processInfo.environment["SKALD_BINARY"] { return p }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        // On Linux the test bundle is an executable in the build folder; on other layouts walk up a little.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("skald").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/skald").path
    }

    /// A fresh, empty temporary folder.
    public static func temporaryDirectory(_ label: String = "skald-test") -> String {
        let path = NSTemporaryDirectory() + "\(label)-\(getpid())-\(SecureRandom.hex(6))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A settable clock for tests.
public final class MockClock: WallClock {
    private let current: Mutex<Date>

    /// Starts at `start`.
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    /// The mock time.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves time forward.
    public func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    /// Sets the time.
    public func set(_ date: Date) { current.withLock { $0 = date } }
}

/// Waits for a condition without fixed sleeps: polls every 10 ms up to `timeout` seconds.
public func eventually(timeout: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}
