import Foundation
import InteractionsAPI
import Shared

/// `skald api`: the interactions endpoint alone.
enum APICommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "api", summary: "serve the Discord interactions endpoint (and /events, /healthz)", usage: "api",
            details: """
                Verifies Discord's signature, answers PING, queues /start, /stop and /status as events on the
                embedded SQLite queue in SKALD_DATA, and answers within Discord's 3-second deadline.
                Requires DISCORD_PUBLIC_KEY. Listens on SKALD_LISTEN (default 127.0.0.1:8080).
                SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0.
                """, options: [], run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let (common, storage, config) = try Setup.config { r -> (CommonSettings, StorageSettings, APIConfig)? in
            let common = CommonSettings.load(from: &r)
            let storage = StorageSettings.load(from: &r)
            guard let api = APIConfig.load(from: &r, common: common, storage: storage) else { return nil }
            return (common, storage, api)
        }
        let logger = Setup.logger("skald.api", level: common.logLevel)
        let queue = try openQueue(storage, busyTimeoutMilliseconds: 1500)
        let server = makeServer(config: config, queue: queue, logger: logger)
        do {
            try server.start()
        } catch {
            throw CLIError.failure("cannot listen on \(config.listen): \(error)")
        }
        logger.info(
            "skald api ready",
            metadata: [
                "queue": .string(queue.backendDescription), "server": .string(config.server),
                "ingest": .bool(config.ingestToken != nil), "roles.restricted": .bool(config.allowedRoles != nil),
            ])
        try await ServiceGroup(services: [server], logger: logger).run()
        return .ok
    }

    static func openQueue(_ storage: StorageSettings, busyTimeoutMilliseconds: Int32 = 5000) throws -> SQLiteEventQueue {
        do {
            try storage.ensureDirectory()
            var options = SQLiteEventQueue.Options()
            options.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            return try SQLiteEventQueue(path: storage.queuePath, options: options)
        } catch {
            throw CLIError.failure("cannot open the events queue at \(storage.queuePath): \(error)")
        }
    }

    static func makeServer(config: APIConfig, queue: any EventQueue, logger: Logger) -> HTTPServer {
        let endpoint = InteractionsEndpoint(config: config, queue: queue, logger: logger)
        return HTTPServer(configuration: HTTPServerConfiguration(address: config.listen), handler: endpoint, logger: logger.labelled("skald.http"))
    }
}

/// `skald register`: register the slash commands with Discord.
enum RegisterCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "register", summary: "register /start, /stop and /status with Discord", usage: "register [--guild ID]",
            details: """
                Overwrites the application's commands in one request: for one guild with --guild (shows up at
                once), else globally (can take a while to appear). Requires DISCORD_APPLICATION_ID and
                DISCORD_BOT_TOKEN. Waits out Discord's rate limits.
                """,
            options: [OptionSpec(name: "guild", valueName: "ID", help: "register for this guild only (instant)")],
            run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let guild = args.value("guild")
        if let g = guild, ConfigParse.snowflake(g) == nil {
            throw CLIError.usage("--guild must be a guild id (digits)", command: spec)
        }
        let (common, discord) = try Setup.config { r -> (CommonSettings, DiscordSettings)? in
            let common = CommonSettings.load(from: &r)
            let discord = DiscordSettings.load(from: &r)
            if discord.applicationID == nil { r.report("DISCORD_APPLICATION_ID", "missing (needed to register commands)") }
            if discord.botToken == nil { r.report("DISCORD_BOT_TOKEN", "missing (needed to register commands)") }
            return (common, discord)
        }
        let logger = Setup.logger("skald.register", level: common.logLevel)
        let client = DiscordClient(baseURL: discord.apiBase, botToken: discord.botToken, logger: logger)
        do {
            let stored = try await CommandRegistration.register(
                client: client, applicationID: discord.applicationID!, guildID: guild, defaultServer: common.server)
            Console.out("registered \(stored.count) commands " + (guild.map { "for guild \($0)" } ?? "globally") + ":")
            for c in stored {
                let options = c.options.map { "[\($0.name)]" }.joined(separator: " ")
                Console.out("  /\(c.name) \(options)".trimmingCharacters(in: .whitespaces) + " — \(c.description)" + (c.id.map { " (id \($0))" } ?? ""))
            }
            return .ok
        } catch {
            throw CLIError.failure("registration failed: \(error)")
        }
    }
}

/// `skald functions`: the Azure Functions custom handler — part of the contract, not built yet.
enum FunctionsCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "functions", summary: "Azure Functions custom handler (not built yet)", usage: "functions",
            details: """
                Will serve the HTTP trigger and the `events` queue trigger on FUNCTIONS_CUSTOMHANDLER_PORT for the
                Azure deployment. It is not built yet: run `skald up` (one host) or `skald api` + `skald worker`.
                """, options: [],
            run: { _ in
                throw CLIError.failure(
                    "the Azure Functions handler is not built yet; use `skald up`, or `skald api` with `skald worker`")
            })
    }
}
