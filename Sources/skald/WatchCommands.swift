import Foundation
import LogWatcher
import Shared

/// `skald classify`: run the stream classifier over a log and print its events.
enum ClassifyCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "classify", summary: "print the events a log yields, one JSON object per line", usage: "classify [FILE]",
            details: """
                Reads FILE (standard input when absent or '-') in order with the same stream classifier the
                watcher runs, and prints {"event", "line", "time", "player", "platformID", "code"} per event.
                Times are read in SKALD_LOG_TIMEZONE (default: this machine's zone).
                """, options: [], positionals: 0...1, run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let zone = try Setup.config { r in WatcherConfig.logTimeZone(from: &r) }
        let reader: LineReader
        if let path = args.positionals.first, path != "-" {
            guard let r = LineReader(path: path) else {
                throw CLIError.failure("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            reader = r
        } else {
            reader = LineReader(fd: 0)
        }
        var classifier = StreamClassifier<Valheim>(timeZone: zone)
        var events: [ClassifiedEvent] = []
        var out = [UInt8]()
        while let line = reader.nextLine() {
            events.removeAll(keepingCapacity: true)
            line.withUnsafeBufferPointer { classifier.classify($0, into: &events) }
            for e in events {
                var w = JSONLineWriter()
                w.field("event", e.event)
                w.field("line", e.line)
                if let t = e.time { w.field("time", Timestamp.format(t)) }
                if let p = e.player { w.field("player", p) }
                if let id = e.platformID { w.field("platformID", id) }
                if let c = e.code { w.field("code", c) }
                if let n = e.count { w.field("count", .int(n)) }
                out.append(contentsOf: w.finish())
                out.append(0x0A)
            }
            if out.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { FileHandle.standardOutput.write(Data(out)) }
        return .ok
    }
}

/// `skald watch`: the log watcher for one game server.
enum WatchCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "watch", summary: "follow the game's log and push ready / join / leave events to the queue",
            usage: "watch --file PATH | --docker NAME | --command CMD",
            details: """
                Follows one log source, classifies its lines, and delivers the events to the embedded queue in
                SKALD_DATA, or to a Skald API's POST /events when SKALD_INGEST_URL and SKALD_INGEST_TOKEN are set.
                The cursor is saved in SKALD_DATA after delivery; when the sink is down, events wait in a durable
                spool there (SKALD_SPOOL_MAX_MB, default 100). SIGTERM: deliver, save the cursor, exit 0.
                  --file PATH      a log file: survives rotation by rename and by truncation, waits for it to exist
                  --docker NAME    `docker logs -f` of a container, resumed by timestamp, restarted when it exits
                  --command CMD    any command's output (not resumable)
                """,
            options: [
                OptionSpec(name: "file", valueName: "PATH", help: "follow a log file"),
                OptionSpec(name: "docker", valueName: "NAME", help: "follow a container's log"),
                OptionSpec(name: "command", valueName: "CMD", help: "follow a command's output"),
            ], run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let targets: [WatchTarget] = [
            args.value("file").map(WatchTarget.file), args.value("docker").map(WatchTarget.docker),
            args.value("command").map(WatchTarget.command),
        ].compactMap { $0 }
        guard targets.count == 1, let target = targets.first else {
            throw CLIError.usage("give exactly one of --file, --docker or --command", command: spec)
        }
        let (common, config) = try Setup.config { r -> (CommonSettings, WatcherConfig)? in
            let common = CommonSettings.load(from: &r)
            let storage = StorageSettings.load(from: &r)
            guard let watcher = WatcherConfig.load(from: &r, common: common, storage: storage) else { return nil }
            return (common, watcher)
        }
        let logger = Setup.logger("skald.watch", level: common.logLevel)
        try? config.storage.ensureDirectory()
        let queue: (any EventQueue)? = config.usesIngest ? nil : try APICommand.openQueue(config.storage)
        let watcher = config.makeWatcher(target: target, queue: queue, logger: logger)
        try await ServiceGroup(services: [watcher], logger: logger).run()
        return .ok
    }
}
