import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The notifier seam: tell people what happened. Failures are logged and the notice dropped — a notice is
/// never worth losing a state change over — so these calls do not throw.
public protocol Notifier: Sendable {
    /// Edits a Discord interaction's original reply.
    func editReply(_ interaction: PendingInteraction, content: String) async
    /// Posts to the notice channel; a repeat with the same `nonce` must not post twice.
    func postChannel(_ content: String, nonce: String) async
    /// Tells the operator (console output).
    func console(_ content: String) async
}

/// Posts to Discord, falling back to the console for what Discord is not configured for.
public final class DiscordNotifier: Notifier {
    private let client: DiscordClient
    private let channelID: String?
    private let fallback: ConsoleNotifier
    private let logger: Logger

    /// Creates a notifier; channel posts go to `channelID`, or the console when it (or the bot token) is unset.
    public init(client: DiscordClient, channelID: String?, fallback: ConsoleNotifier, logger: Logger) {
        self.client = client
        self.channelID = channelID
        self.fallback = fallback
        self.logger = logger
    }

    /// Edits the reply (interaction webhooks need no bot token).
    public func editReply(_ interaction: PendingInteraction, content: String) async {
        do {
            try await client.editOriginalResponse(
                applicationID: interaction.applicationID, token: interaction.token, content: content)
        } catch {
            logger.warning(
                "could not edit the interaction reply; dropped",
                metadata: ["interaction.id": .string(interaction.id), "error": .string("\(error)")])
        }
    }

    /// Posts with `nonce` + `enforce_nonce`, so a retried event returns the earlier message.
    public func postChannel(_ content: String, nonce: String) async {
        guard let channelID else {
            await fallback.postChannel(content, nonce: nonce)
            return
        }
        do {
            try await client.createMessage(channelID: channelID, content: content, nonce: nonce)
        } catch DiscordError.notConfigured {
            await fallback.postChannel(content, nonce: nonce)
        } catch {
            logger.warning(
                "could not post the channel notice; dropped",
                metadata: ["discord.channel": .string(channelID), "discord.nonce": .string(nonce), "error": .string("\(error)")])
        }
    }

    /// Console output.
    public func console(_ content: String) async { await fallback.console(content) }
}

/// Writes notices to standard output (one line each) and the log; used when Discord is not configured and for
/// operator commands. Remembers recent nonces so that a retried notice prints once, as Discord would.
public final class ConsoleNotifier: Notifier {
    private let logger: Logger
    private let fd: Int32
    private let seen = Mutex<[String]>([])

    /// Creates a console notifier writing to `fd` (stdout by default).
    public init(logger: Logger, fd: Int32 = 1) {
        self.logger = logger
        self.fd = fd
    }

    /// Prints "[reply] …".
    public func editReply(_ interaction: PendingInteraction, content: String) async {
        write("[reply] \(content)")
    }

    /// Prints "[channel] …" once per nonce.
    public func postChannel(_ content: String, nonce: String) async {
        let fresh = seen.withLock { s -> Bool in
            if s.contains(nonce) { return false }
            s.append(nonce)
            if s.count > 1000 { s.removeFirst(s.count - 1000) }
            return true
        }
        guard fresh else { return }
        write("[channel] \(content)")
        logger.notice("channel notice", metadata: ["notice": .string(content)])
    }

    /// Logs the answer to an operator command (the `skald start|stop|status` command itself prints it, from
    /// the state record, so it is not printed twice here).
    public func console(_ content: String) async {
        logger.info("operator answer", metadata: ["answer": .string(content)])
    }

    private func write(_ line: String) {
        let bytes = Array((line.replacingOccurrences(of: "**", with: "") + "\n").utf8)
        bytes.withUnsafeBytes { raw in _ = Glibc.write(fd, raw.baseAddress, raw.count) }
    }
}
