import Foundation
import Shared

/// Configuration of the reactions worker (`skald worker`, and the worker part of `skald up`).
public struct WorkerConfig: Sendable {
    /// `SKALD_SERVER`: the server whose game host this worker drives.
    public var server: String
    /// Idle and boot timeouts, the game port, the announced address.
    public var brain: BrainSettings
    /// Consumers, visibility timeout, dequeue limit.
    public var worker: WorkerSettings
    /// `SKALD_HOST_START`.
    public var hostStart: String
    /// `SKALD_HOST_STOP`.
    public var hostStop: String
    /// `SKALD_HOST_ADDRESS`.
    public var hostAddress: String
    /// `SKALD_HOST_TIMEOUT_MINUTES`, in seconds.
    public var hostTimeout: Double
    /// Discord REST settings (notices go to the console without them).
    public var discord: DiscordSettings
    /// Where the embedded queue and state live.
    public var storage: StorageSettings

    /// Reads the configuration, recording every problem in `reader`; `nil` when something required is wrong.
    public static func load(from r: inout ConfigReader, common: CommonSettings, storage: StorageSettings) -> WorkerConfig? {
        let idle = r.optional("SKALD_IDLE_MINUTES", default: 15 * 60, "a positive number of minutes", ConfigParse.positiveMinutes)
        let boot = r.optional(
            "SKALD_BOOT_TIMEOUT_MINUTES", default: 20 * 60, "a positive number of minutes", ConfigParse.positiveMinutes)
        let start = r.required("SKALD_HOST_START", "the shell command that starts the game, e.g. `docker start valheim`", ConfigParse.string)
        let stop = r.required(
            "SKALD_HOST_STOP", "the shell command that stops the game and saves the world, e.g. `docker stop -t 120 valheim`",
            ConfigParse.string)
        let address = r.optional("SKALD_HOST_ADDRESS", default: "127.0.0.1", "the address players connect to", { s in
            s.contains(where: { $0.isWhitespace }) ? nil : s
        })
        let port = r.optional("SKALD_GAME_PORT", default: 2456, "a port number 1–65535", ConfigParse.int(in: 1...65535))
        let hostTimeout = r.optional(
            "SKALD_HOST_TIMEOUT_MINUTES", default: 10 * 60, "a positive number of minutes", ConfigParse.positiveMinutes)
        var worker = WorkerSettings()
        worker.consumers = r.optional("SKALD_WORKER_CONSUMERS", default: 2, "a whole number 1–64", ConfigParse.int(in: 1...64))
        worker.visibilityTimeout = Double(
            r.optional("SKALD_VISIBILITY_TIMEOUT_SECONDS", default: 60, "a whole number of seconds 5–3600", ConfigParse.int(in: 5...3600)))
        worker.maxDequeueCount = r.optional("SKALD_MAX_DEQUEUE_COUNT", default: 5, "a whole number 1–100", ConfigParse.int(in: 1...100))
        let discord = DiscordSettings.load(from: &r)
        guard let start, let stop else { return nil }
        return WorkerConfig(
            server: common.server,
            brain: BrainSettings(idleTimeout: idle, bootTimeout: boot, gamePort: port, defaultAddress: address),
            worker: worker, hostStart: start, hostStop: stop, hostAddress: address, hostTimeout: hostTimeout,
            discord: discord, storage: storage)
    }

    /// Builds the worker over `queue` and `store`, with the local game host and the Discord (or console) notifier.
    public func makeWorker(queue: any EventQueue, store: any StateStore, logger: Logger, console: ConsoleNotifier? = nil) -> ReactionsWorker {
        let host = CommandHostScaleSet(
            startCommand: hostStart, stopCommand: hostStop, address: hostAddress, timeout: hostTimeout,
            logger: logger.labelled("skald.host"))
        let server = self.server
        let consoleNotifier = console ?? ConsoleNotifier(logger: logger)
        let client = DiscordClient(baseURL: discord.apiBase, botToken: discord.botToken, logger: logger.labelled("skald.discord"))
        let notifier = DiscordNotifier(
            client: client, channelID: discord.botToken == nil ? nil : discord.channelID, fallback: consoleNotifier, logger: logger)
        return ReactionsWorker(
            queue: queue, store: store, scaleSet: { $0 == server ? host : nil }, notifier: notifier, brain: brain,
            settings: worker, logger: logger)
    }
}
