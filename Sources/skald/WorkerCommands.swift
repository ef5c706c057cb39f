import Foundation
import InteractionsAPI
import LogWatcher
import ReactionsWorker
import Shared

/// Opening the embedded backends.
enum Embedded {
    static func openState(_ storage: StorageSettings) throws -> SQLiteStateStore {
        do {
            try storage.ensureDirectory()
            return try SQLiteStateStore(path: storage.statePath)
        } catch {
            throw CLIError.failure("cannot open the state table at \(storage.statePath): \(error)")
        }
    }
}

/// `skald worker`: the reactions worker alone.
enum WorkerCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "worker", summary: "consume the events queue: drive the game host, keep state, tell Discord", usage: "worker",
            details: """
                Applies events from the embedded queue in SKALD_DATA to each server's state record, starts and
                stops the game with SKALD_HOST_START / SKALD_HOST_STOP, and posts notices to Discord (or the
                console when Discord is not configured). Several workers may share one SKALD_DATA.
                SIGTERM or SIGINT: finish or give back the current events, exit 0.
                """, options: [], run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let (common, config) = try Setup.config { r -> (CommonSettings, WorkerConfig)? in
            let common = CommonSettings.load(from: &r)
            let storage = StorageSettings.load(from: &r)
            guard let worker = WorkerConfig.load(from: &r, common: common, storage: storage) else { return nil }
            return (common, worker)
        }
        let logger = Setup.logger("skald.worker", level: common.logLevel)
        let queue = try APICommand.openQueue(config.storage)
        let store = try Embedded.openState(config.storage)
        let worker = config.makeWorker(queue: queue, store: store, logger: logger)
        try await ServiceGroup(services: [worker], logger: logger).run()
        return .ok
    }
}

/// `skald up`: the embedded default, API and worker in one process.
enum UpCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "up", summary: "the embedded default: API + worker (+ watcher) in one process over SQLite", usage: "up",
            details: """
                Serves /interactions, /events and /healthz on SKALD_LISTEN and runs the worker, over SQLite files
                in SKALD_DATA; the game is started and stopped by SKALD_HOST_START / SKALD_HOST_STOP. With
                SKALD_WATCH_FILE it also follows the game's log file on this host.
                Needs DISCORD_PUBLIC_KEY, SKALD_HOST_START and SKALD_HOST_STOP.
                SIGTERM or SIGINT: stop accepting, finish in-flight work, exit 0.
                """, options: [], run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let (common, api, worker, watch) = try Setup.config {
            r -> (CommonSettings, APIConfig, WorkerConfig, (WatcherConfig, String)?)? in
            let common = CommonSettings.load(from: &r)
            let storage = StorageSettings.load(from: &r)
            let api = APIConfig.load(from: &r, common: common, storage: storage)
            let worker = WorkerConfig.load(from: &r, common: common, storage: storage)
            let file = r.optional("SKALD_WATCH_FILE", "a log file path", ConfigParse.string)
            var watcher = file == nil ? nil : WatcherConfig.load(from: &r, common: common, storage: storage)
            // One host: the watcher delivers to the local queue.
            watcher?.ingestURL = nil
            guard let api, let worker else { return nil }
            return (common, api, worker, watcher.flatMap { w in file.map { (w, $0) } })
        }
        let logger = Setup.logger("skald.up", level: common.logLevel)
        let queue = try APICommand.openQueue(api.storage, busyTimeoutMilliseconds: 1500)
        let workerQueue = try APICommand.openQueue(worker.storage)
        let store = try Embedded.openState(worker.storage)
        let server = APICommand.makeServer(config: api, queue: queue, logger: logger.labelled("skald.api"))
        do {
            try server.start()
        } catch {
            throw CLIError.failure("cannot listen on \(api.listen): \(error)")
        }
        let reactions = worker.makeWorker(queue: workerQueue, store: store, logger: logger.labelled("skald.worker"))
        var services: [any Service] = [server, reactions]
        if let (config, file) = watch {
            let watchQueue = try APICommand.openQueue(config.storage)
            services.append(config.makeWatcher(target: .file(file), queue: watchQueue, logger: logger.labelled("skald.watch")))
        }
        logger.info(
            "skald up ready",
            metadata: [
                "http.address": .string(api.listen.description), "server": .string(common.server),
                "data": .string(api.storage.dataDirectory), "discord.notices": .bool(worker.discord.canPostToChannel),
                "watch.file": .string(watch?.1 ?? "-"),
            ])
        try await ServiceGroup(services: services, logger: logger).run()
        return .ok
    }
}

/// `skald state`: the state records as operators read them.
enum StateCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "state", summary: "show the state record(s): status, address, players online", usage: "state [--server NAME] [--json]",
            details: "Reads the embedded state table in SKALD_DATA. --json prints a JSON array, one object per server.",
            options: [
                OptionSpec(name: "server", valueName: "NAME", help: "only this server"),
                OptionSpec(name: "json", valueName: nil, help: "print JSON for scripts"),
            ], run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let storage = try Setup.config { r in StorageSettings.load(from: &r) }
        if let s = args.value("server"), !ServerName.isValid(s) {
            throw CLIError.usage("--server must be 1–64 letters, digits, '-', '_' or '.'", command: spec)
        }
        let store = try Embedded.openState(storage)
        var records = try await store.list()
        if let s = args.value("server") { records = records.filter { $0.state.server == s } }
        let summaries = records.map { r -> ServerState.Summary in
            var s = r.state.summary
            s.etag = r.etag
            return s
        }
        if args.has("json") {
            Console.out(String(decoding: try JSONCoding.encoder.encode(summaries), as: UTF8.self))
            return .ok
        }
        if summaries.isEmpty {
            Console.out(args.value("server").map { "no state for server \($0) yet (it is offline)" } ?? "no servers yet")
            return .ok
        }
        let rows = [["SERVER", "STATUS", "ADDRESS", "PLAYERS", "UPDATED"]]
            + summaries.map { s in
                [
                    s.server, s.status.rawValue, s.ip ?? "-",
                    s.players.isEmpty ? "0" : "\(s.online_players) (\(s.players.joined(separator: ", ")))",
                    s.updatedAt.map(Timestamp.format) ?? "-",
                ]
            }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            Console.out(row.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined().trimmingCharacters(in: .whitespaces))
        }
        return .ok
    }
}

/// `skald start|stop|status`: operator commands through the same queue and worker as Discord's.
enum OperatorCommand {
    static func spec(_ name: CommandName) -> CommandSpec {
        let summary: String
        switch name {
        case .start: summary = "start the game server (through the queue and worker, like /start)"
        case .stop: summary = "stop the game server, saving the world (like /stop)"
        case .status: summary = "ask the worker for the server's status (like /status)"
        }
        return CommandSpec(
            name: name.rawValue, summary: summary, usage: "\(name.rawValue) [--server NAME]" + (name == .status ? "" : " [--wait]"),
            details: """
                Queues the command on the embedded queue in SKALD_DATA, waits until a worker (skald up or
                skald worker) has applied it, and prints the worker's answer.\(name == .status ? "" : " With --wait it then waits until the server is \(name == .start ? "online" : "offline").")
                Exit 1 when no worker applies it within --timeout seconds (default 30).
                """,
            options: [
                OptionSpec(name: "server", valueName: "NAME", help: "the server (default SKALD_SERVER)"),
                OptionSpec(name: "timeout", valueName: "SECONDS", help: "how long to wait (default 30; with --wait 1800)"),
            ] + (name == .status ? [] : [OptionSpec(name: "wait", valueName: nil, help: "wait for the outcome")]),
            run: { try await run(name, $0) })
    }

    static func run(_ name: CommandName, _ args: ParsedArguments) async throws -> ExitCode {
        let (common, storage) = try Setup.config { r in (CommonSettings.load(from: &r), StorageSettings.load(from: &r)) }
        let server = args.value("server") ?? common.server
        guard ServerName.isValid(server) else {
            throw CLIError.usage("--server must be 1–64 letters, digits, '-', '_' or '.'", command: spec(name))
        }
        let waitForOutcome = args.has("wait")
        guard let timeout = Double(args.value("timeout") ?? (waitForOutcome ? "1800" : "30")), timeout > 0 else {
            throw CLIError.usage("--timeout must be a positive number of seconds", command: spec(name))
        }
        let queue = try APICommand.openQueue(storage)
        let store = try Embedded.openState(storage)
        let id = "cli:\(name.rawValue):\(SecureRandom.hex(8))"
        let envelope = EventEnvelope(id: id, at: Date(), server: server, payload: .command(CommandEvent(name: name, origin: "cli")))
        try await queue.send(envelope)
        let deadline = Date().addingTimeInterval(timeout)
        var applied: ServerState?
        while Date() < deadline {
            if let s = try await store.get(server)?.state, s.hasApplied(id) {
                applied = s
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let state = applied else {
            throw CLIError.failure(
                "no worker applied the command within \(Int(timeout)) s — is `skald up` or `skald worker` running on SKALD_DATA=\(storage.dataDirectory)?")
        }
        for case .console(let text) in state.actions(for: id) ?? [] {
            Console.out(text.replacingOccurrences(of: "**", with: ""))
        }
        guard waitForOutcome, name != .status else { return .ok }
        let target: ServerStatus = name == .start ? .online : .offline
        var last: ServerStatus? = nil
        while Date() < deadline {
            guard let s = try await store.get(server)?.state else { break }
            if s.status != last {
                Console.out("\(server): \(s.status.rawValue)" + (s.status == .online ? " at \(s.ip ?? "?")" : ""))
                last = s.status
            }
            if s.status == target { return .ok }
            if name == .start, s.status == .offline {
                throw CLIError.failure("\(server) went offline before it was ready (see the worker's log)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError.failure("\(server) did not become \(target.rawValue) within \(Int(timeout)) s (now \(last?.rawValue ?? "unknown"))")
    }
}
