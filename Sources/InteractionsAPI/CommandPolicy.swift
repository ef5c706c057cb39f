import Foundation
import Shared

/// What to do with a verified interaction: a pure function of the interaction, the configuration and the time.
public enum InteractionDecision: Sendable {
    /// Answer at once; nothing is queued.
    case reply(InteractionResponse)
    /// Queue `event`, then answer `response` (or `onFailure` when the queue cannot take it).
    case enqueue(EventEnvelope, response: InteractionResponse, onFailure: InteractionResponse)
}

/// Decides how to answer interactions: validation, permissions and the command event to queue.
public struct CommandPolicy: Sendable {
    /// The server used when no `server` option is given (and the only one served for now).
    public var defaultServer: String
    /// Role ids that may start or stop, when restricted.
    public var allowedRoles: Set<String>?
    /// When set, interactions for any other application are refused.
    public var applicationID: String?

    /// Creates a policy.
    public init(defaultServer: String, allowedRoles: Set<String>?, applicationID: String?) {
        self.defaultServer = defaultServer
        self.allowedRoles = allowedRoles
        self.applicationID = applicationID
    }

    /// User-facing texts.
    public enum Text {
        static let unknownCommand = "Skald doesn't know that command. Try `/start`, `/stop` or `/status`."
        static let unsupportedType = "Skald only answers its slash commands: `/start`, `/stop` and `/status`."
        static let otherApplication = "This interaction is for another application."
        static let queueUnavailable =
            "Skald couldn't take that request right now (its queue is unavailable). Please try again in a minute."
        static func notAllowed(_ command: CommandName) -> String {
            "You need one of the roles allowed to \(command.rawValue) the server (or the Manage Server permission). "
                + "`/status` is open to everyone."
        }
        static func unknownServer(_ name: String, known: String) -> String {
            "There is no server called `\(name.prefix(64))` here. This bot runs `\(known)`."
        }
    }

    /// Decides what to do with `interaction`, received at `now`.
    public func decide(_ interaction: Interaction, now: Date) -> InteractionDecision {
        if let app = applicationID, app != interaction.applicationID {
            return .reply(.message(Text.otherApplication, ephemeral: true))
        }
        switch interaction.type {
        case .ping:
            return .reply(.pong)
        case .applicationCommand:
            return decideCommand(interaction, now: now)
        case .autocomplete:
            return .reply(.noChoices)
        default:
            return .reply(.message(Text.unsupportedType, ephemeral: true))
        }
    }

    private func decideCommand(_ interaction: Interaction, now: Date) -> InteractionDecision {
        guard let name = interaction.data?.name, let command = CommandName(rawValue: name) else {
            return .reply(.message(Text.unknownCommand, ephemeral: true))
        }
        let requested = interaction.data?.options?.first(where: { $0.name == "server" })?.value?.string?
            .trimmingCharacters(in: .whitespaces)
        let server = (requested?.isEmpty ?? true) ? defaultServer : requested!
        // One server per deployment for now; the option is here so commands need not change for several.
        guard server == defaultServer else {
            return .reply(.message(Text.unknownServer(server, known: defaultServer), ephemeral: true))
        }
        if command != .status, !isAllowedToControl(interaction) {
            return .reply(.message(Text.notAllowed(command), ephemeral: true))
        }
        let user = interaction.invoker.map { UserRef(id: $0.id, name: interaction.member?.nick ?? $0.displayName) }
        let ref = InteractionRef(
            id: interaction.id, token: interaction.token, applicationID: interaction.applicationID,
            channelID: interaction.channelID, guildID: interaction.guildID, user: user)
        let envelope = EventEnvelope(
            id: "interaction:\(interaction.id)", at: now, server: server,
            payload: .command(CommandEvent(name: command, interaction: ref)))
        // The worker edits the deferred reply with the outcome; a status check is only for the asker.
        return .enqueue(
            envelope, response: .deferred(ephemeral: command == .status),
            onFailure: .message(Text.queueUnavailable, ephemeral: true))
    }

    /// Start and stop are open unless roles are configured; then a listed role, Administrator or Manage Server.
    public func isAllowedToControl(_ interaction: Interaction) -> Bool {
        guard let allowed = allowedRoles else { return true }
        guard let member = interaction.member else { return false }
        if member.hasPermission(DiscordPermission.administrator) || member.hasPermission(DiscordPermission.manageGuild) {
            return true
        }
        return member.roles.contains(where: allowed.contains)
    }
}
