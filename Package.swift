// swift-tools-version:6.0
// Skald: a Discord-driven game server that costs money only while people play.
// No SwiftPM package dependencies: Foundation, Dispatch, Synchronization and system C libraries.
import PackageDescription

let package = Package(
    name: "skald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "skald", targets: ["skald"])
    ],
    targets: [
        // System C libraries.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // epoll / eventfd: part of glibc, but not exported by Swift's Glibc module.
        .systemLibrary(name: "CLinux"),

        // The shared library: models, seams and their backends, crypto, HTTP, config, logging.
        .target(
            name: "Shared",
            dependencies: ["CSodium", "CSQLite", "CLinux"]
        ),
        // The three deployables.
        .target(name: "InteractionsAPI", dependencies: ["Shared"]),
        .target(name: "ReactionsWorker", dependencies: ["Shared"]),
        .target(name: "LogWatcher", dependencies: ["Shared", "CLinux"]),
        // The one executable: parses arguments, loads config, calls into a module.
        .executableTarget(
            name: "skald",
            dependencies: ["Shared", "InteractionsAPI", "ReactionsWorker", "LogWatcher"]
        ),

        // Tests.
        .target(
            name: "TestSupport",
            dependencies: ["Shared", "CSodium", "CLinux"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "SharedTests",
            dependencies: ["Shared", "TestSupport"]
        ),
        .testTarget(
            name: "InteractionsAPITests",
            dependencies: ["InteractionsAPI", "Shared", "TestSupport"]
        ),
        .testTarget(
            name: "ReactionsWorkerTests",
            dependencies: ["ReactionsWorker", "Shared", "TestSupport"]
        ),
        .testTarget(
            name: "LogWatcherTests",
            dependencies: ["LogWatcher", "Shared", "TestSupport"]
        ),
        // End-to-end: the built `skald` binary as real processes.
        .testTarget(
            name: "SkaldCLITests",
            dependencies: ["Shared", "TestSupport", "skald"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
