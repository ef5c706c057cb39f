/// The event names a log classifier yields and the worker understands (`LogEvent.event`).
public enum LogEventName: String, Sendable, CaseIterable, Codable {
    /// The game accepts players.
    case ready
    /// A client connected (not a player yet: the password is checked after this).
    case connecting
    /// A connection was refused for a wrong password (it is nobody).
    case wrongPassword = "wrong_password"
    /// A character spawned for a new connection: a player joined.
    case join
    /// A player left (the several lines of one departure make one leave).
    case leave
    /// The world was saved.
    case saved
    /// The game is shutting down.
    case shutdown
    /// A crossplay join code was registered.
    case joinCode = "join_code"
    /// The world finished loading.
    case worldLoaded = "world_loaded"
}
