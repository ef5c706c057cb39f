import Foundation
import Shared

/// Skald's slash commands and their registration with Discord.
public enum CommandRegistration {
    /// The three commands, each with the optional `server` option.
    public static func definitions(defaultServer: String) -> [ApplicationCommand] {
        let serverOption = ApplicationCommandOption(
            type: 3, name: "server", description: "Which game server (default: \(defaultServer))", required: false)
        return [
            ApplicationCommand(
                name: "start", description: "Start the game server (it stops by itself when nobody plays)",
                options: [serverOption]),
            ApplicationCommand(
                name: "stop", description: "Stop the game server now (the world is saved first)", options: [serverOption]),
            ApplicationCommand(
                name: "status", description: "Is the server up? Its address and who is online", options: [serverOption]),
        ]
    }

    /// Overwrites the application's commands for `guildID` (instant) or globally (can take a while to show)
    /// and returns what Discord stored. Rate limits (429 `retry_after`) are waited out by the client.
    public static func register(
        client: DiscordClient, applicationID: String, guildID: String?, defaultServer: String
    ) async throws(DiscordError) -> [ApplicationCommand] {
        try await client.bulkOverwriteCommands(
            applicationID: applicationID, guildID: guildID, commands: definitions(defaultServer: defaultServer))
    }
}
