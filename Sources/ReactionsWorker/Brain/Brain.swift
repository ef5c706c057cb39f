import Foundation
import Shared

/// Settings the decision function needs.
public struct BrainSettings: Sendable, Equatable {
    /// Stop after this many seconds with nobody online.
    public var idleTimeout: Double
    /// Give up on a server that is not ready this many seconds after `/start`.
    public var bootTimeout: Double
    /// The game port announced with the address.
    public var gamePort: Int
    /// The address to announce when the scale set reports none (local host: `SKALD_HOST_ADDRESS`).
    public var defaultAddress: String?
    /// How long an interaction token stays usable (Discord: 15 minutes); kept a little shorter.
    public var interactionLifetime: Double = 14.5 * 60
    /// How many `/start` callers are remembered for the "ready" edit.
    public var maxPendingInteractions = 5
    /// Log events this much older than the session start belong to an earlier session and are ignored.
    public var staleEventTolerance: Double = 60

    /// Creates settings.
    public init(idleTimeout: Double, bootTimeout: Double, gamePort: Int, defaultAddress: String?) {
        self.idleTimeout = idleTimeout
        self.bootTimeout = bootTimeout
        self.gamePort = gamePort
        self.defaultAddress = defaultAddress
    }
}

/// The outcome of deciding one event.
public struct Decision: Sendable, Equatable {
    /// The state to write (the caller records the event as applied in it).
    public var state: ServerState
    /// Side effects, to run after the write commits.
    public var actions: [Action]
    /// What happened, for the log.
    public var note: String
}

/// The worker's brain: `(state, event, now) → (new state, actions)`, with no I/O.
///
/// Player tracking is order-insensitive: an event changes a player only when it is newer than the player's
/// last applied event, so duplicates and reordering never skew the count. Timers and scale results carry the
/// start cycle (`generation`) they belong to; ones from an earlier cycle change nothing.
public enum Brain {
    /// Decides what `event` does to `state` at `now`.
    public static func decide(_ state: ServerState, _ event: EventEnvelope, now: Date, settings: BrainSettings) -> Decision {
        var ctx = Context(state: state, event: event, now: now, settings: settings)
        switch event.payload {
        case .command(let c): ctx.command(c)
        case .log(let l): ctx.log(l)
        case .host(let h): ctx.host(h.detail)
        case .timer(let t): ctx.timer(t)
        }
        ctx.state.updatedAt = now
        return Decision(state: ctx.state, actions: ctx.actions, note: ctx.note)
    }

    /// A Discord nonce (≤ 25 characters) that is the same every time this notice is decided for this event.
    public static func nonce(_ eventID: String, _ kind: String) -> String {
        String(Hex.encode(Digest.sha256(eventID + "|" + kind)).prefix(25))
    }

    /// The deterministic id of a timer event, so re-sending it is deduplicated by the queue.
    public static func timerID(server: String, _ timer: TimerEvent) -> String {
        "timer:\(server):\(timer.name):\(timer.generation ?? 0):\(Int64(timer.due.timeIntervalSince1970))"
    }

    /// "15 min", "90 s", "1 h 30 min".
    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s) s" }
        let m = (s + 30) / 60
        if m < 60 { return "\(m) min" }
        return m % 60 == 0 ? "\(m / 60) h" : "\(m / 60) h \(m % 60) min"
    }
}

/// One decision in progress.
private struct Context {
    var state: ServerState
    let event: EventEnvelope
    let now: Date
    let settings: BrainSettings
    var actions: [Action] = []
    var note = "no change"

    init(state: ServerState, event: EventEnvelope, now: Date, settings: BrainSettings) {
        self.state = state
        self.event = event
        self.now = now
        self.settings = settings
    }

    var name: String { "**\(state.server)**" }

    var address: String? {
        guard let ip = state.ip ?? settings.defaultAddress else { return nil }
        return ip.contains(":") ? "[\(ip)]:\(settings.gamePort)" : "\(ip):\(settings.gamePort)"
    }

    var playersText: String {
        let names = state.onlineNames
        return names.isEmpty ? "nobody online" : "\(names.count) online: \(names.joined(separator: ", "))"
    }

    // MARK: answering

    /// Answers the command's asker: an edit of their Discord reply, or the console for operator commands.
    mutating func answer(_ command: CommandEvent, _ text: String) {
        if let i = command.interaction {
            actions.append(.reply(pending(i), text))
        } else {
            actions.append(.console(text))
        }
    }

    func pending(_ i: InteractionRef) -> PendingInteraction {
        PendingInteraction(
            id: i.id, applicationID: i.applicationID, token: i.token,
            expiresAt: event.at.addingTimeInterval(settings.interactionLifetime))
    }

    /// Edits every waiting `/start` reply that can still be edited, then forgets them if `clear`.
    mutating func updatePending(_ text: String, clear: Bool) {
        for p in state.pendingInteractions where p.expiresAt > now {
            actions.append(.reply(p, text))
        }
        if clear { state.pendingInteractions = [] }
    }

    mutating func channel(_ text: String, kind: String) {
        actions.append(.channel(text, nonce: Brain.nonce(event.id, kind)))
    }

    mutating func schedule(_ name: String, due: Date) {
        actions.append(.schedule(TimerEvent(name: name, due: due, generation: state.generation)))
    }

    mutating func scale(_ capacity: Int) {
        actions.append(.scale(capacity: capacity, generation: state.generation))
    }

    /// Marks everyone offline (the server is down; nobody can still be playing).
    mutating func clearPlayers(at time: Date) {
        for (n, var p) in state.players where p.online {
            p.online = false
            p.lastEventAt = max(p.lastEventAt, time)
            state.players[n] = p
        }
        state.idleSince = nil
    }

    // MARK: commands

    mutating func command(_ c: CommandEvent) {
        switch c.name {
        case .start: start(c)
        case .stop: stop(c)
        case .status:
            note = "status"
            answer(c, statusText)
        }
    }

    var statusText: String {
        switch state.status {
        case .offline:
            var s = "\(name) is offline. Use `/start` to start it."
            if let saved = state.lastSavedAt { s += " The world was last saved \(Self.clock(saved))." }
            return s
        case .starting:
            return "\(name) is starting: the host is being started."
        case .booting:
            return "\(name)'s host is up\(address.map { " at `\($0)`" } ?? ""); the game is loading its world."
        case .online:
            var s = "\(name) is online at `\(address ?? "unknown address")` — \(playersText)."
            if let code = state.joinCode { s += " Crossplay join code: `\(code)`." }
            return s
        case .stopping:
            return "\(name) is stopping (saving the world first)."
        }
    }

    static func clock(_ d: Date) -> String {
        let t = Timestamp.format(d)
        // "2026-11-22T10:00:00Z" → "2026-11-22 10:00 UTC"
        return String(t.prefix(10)) + " " + String(t.dropFirst(11).prefix(5)) + " UTC"
    }

    mutating func start(_ c: CommandEvent) {
        state.lastActivityAt = now
        switch state.status {
        case .offline:
            state.generation += 1
            state.status = .starting
            state.startedAt = now
            state.readyAt = nil
            state.idleSince = nil
            state.joinCode = nil
            state.ip = nil
            clearPlayers(at: now)
            state.pendingInteractions = c.interaction.map { [pending($0)] } ?? []
            note = "offline → starting"
            answer(c, "Starting \(name)… I'll update this message when it is ready (usually a few minutes).")
            scale(1)
            schedule(TimerEvent.bootTimeout, due: now.addingTimeInterval(settings.bootTimeout))
        case .starting, .booting:
            if let i = c.interaction, !state.pendingInteractions.contains(where: { $0.id == i.id }) {
                state.pendingInteractions.append(pending(i))
                if state.pendingInteractions.count > settings.maxPendingInteractions {
                    state.pendingInteractions.removeFirst(state.pendingInteractions.count - settings.maxPendingInteractions)
                }
            }
            note = "already \(state.status.rawValue)"
            answer(c, statusText + " I'll update this message when it is ready.")
        case .online:
            note = "already online"
            answer(c, statusText)
        case .stopping:
            note = "start while stopping"
            answer(c, "\(name) is stopping right now (saving the world). Try `/start` again in a minute.")
        }
    }

    mutating func stop(_ c: CommandEvent) {
        state.lastActivityAt = now
        switch state.status {
        case .starting, .booting, .online:
            note = "\(state.status.rawValue) → stopping (command)"
            updatePending("\(name) was stopped before it was ready.", clear: true)
            state.status = .stopping
            state.pendingInteractions = c.interaction.map { [pending($0)] } ?? []
            answer(c, "Stopping \(name)… the world is saved first.")
            scale(0)
        case .offline:
            note = "already offline"
            answer(c, "\(name) is already offline.")
        case .stopping:
            note = "already stopping"
            answer(c, "\(name) is already stopping.")
        }
    }

    // MARK: host events

    mutating func host(_ h: HostEvent.Detail) {
        switch h.type {
        case HostEvent.Detail.scaled: scaled(h)
        case HostEvent.Detail.scaleFailed: scaleFailed(h)
        case HostEvent.Detail.address:
            if let a = h.address, !a.isEmpty {
                state.ip = a
                note = "address recorded"
            }
        case HostEvent.Detail.preempt: preempt(h)
        default:
            note = "ignored host event \(h.type.prefix(32))"
        }
    }

    mutating func scaled(_ h: HostEvent.Detail) {
        let capacity = h.capacity ?? 0
        let current = (h.generation ?? state.generation) == state.generation
        if capacity == 1 {
            guard state.status.isRunning else {
                // Scaled up after a stop was decided (two workers raced): bring it down again.
                if state.status == .offline {
                    note = "late scale-up while offline: scaling down"
                    scale(0)
                }
                return
            }
            if let a = h.address, !a.isEmpty { state.ip = a } else if state.ip == nil { state.ip = settings.defaultAddress }
            if state.status == .starting, current {
                state.status = .booting
                note = "starting → booting"
                updatePending("\(name)'s host is up\(address.map { " at `\($0)`" } ?? ""). The game is loading its world…", clear: false)
            } else {
                note = "address recorded"
            }
        } else {
            switch state.status {
            case .stopping:
                state.status = .offline
                clearPlayers(at: now)
                state.readyAt = nil
                note = "stopping → offline"
                updatePending("\(name) stopped. The world was saved.", clear: true)
            case .starting, .booting, .online:
                // A stale scale-down settled while the server should run: scale up again.
                note = "late scale-down while \(state.status.rawValue): scaling up"
                scale(1)
            case .offline:
                note = "already offline"
            }
        }
    }

    mutating func scaleFailed(_ h: HostEvent.Detail) {
        let reason = (h.reason ?? "unknown error").prefix(300)
        guard (h.generation ?? state.generation) == state.generation else {
            note = "stale scale failure"
            return
        }
        if h.capacity == 1, state.status == .starting || state.status == .booting {
            state.status = .offline
            note = "start failed"
            updatePending("Couldn't start \(name): \(reason)", clear: true)
            channel("Couldn't start \(name): \(reason)", kind: "start-failed")
        } else if h.capacity == 0, state.status == .stopping {
            // The host may still be running: say so, keep it marked running, and try again later.
            state.status = state.readyAt != nil ? .online : .booting
            state.idleSince = state.onlinePlayers == 0 ? now : nil
            note = "stop failed"
            updatePending("Couldn't stop \(name): \(reason). It may still be running.", clear: true)
            channel("Couldn't stop \(name): \(reason). It may still be running; I'll try again.", kind: "stop-failed")
            if state.status == .online {
                schedule(TimerEvent.idleCheck, due: now.addingTimeInterval(settings.idleTimeout))
            } else {
                schedule(TimerEvent.bootTimeout, due: now.addingTimeInterval(settings.bootTimeout))
            }
        } else {
            note = "scale failure ignored in \(state.status.rawValue)"
        }
    }

    mutating func preempt(_ h: HostEvent.Detail) {
        guard state.status.isRunning else {
            note = "eviction notice while \(state.status.rawValue): nothing to do"
            return
        }
        note = "\(state.status.rawValue) → offline (evicted)"
        let saved = state.lastSavedAt.map { " The world was last saved \(Self.clock($0))" } ?? " The world is saved as the game stops"
        let text =
            "The spot VM running \(name) is being evicted by the cloud provider\(h.notBefore.map { " (at \(Self.clock($0)))" } ?? "")."
            + "\(saved); nothing else is lost. Use `/start` to start it again."
        updatePending(text, clear: true)
        channel(text, kind: "evicted")
        state.status = .offline
        clearPlayers(at: now)
        state.readyAt = nil
        scale(0)
    }

    // MARK: log events

    /// A log event from before the current session (an old line replayed) changes nothing.
    func isStale(_ at: Date) -> Bool {
        guard let started = state.startedAt else { return false }
        return at < started.addingTimeInterval(-settings.staleEventTolerance)
    }

    mutating func log(_ l: LogEvent) {
        guard let kind = LogEventName(rawValue: l.event) else {
            note = "ignored log event \(l.event.prefix(32))"
            return
        }
        switch kind {
        case .ready: ready()
        case .join: join(l)
        case .leave: leave(l)
        case .saved:
            if state.lastSavedAt.map({ event.at > $0 }) ?? true { state.lastSavedAt = event.at }
            note = "saved"
        case .shutdown: shutdown()
        case .joinCode:
            guard let code = l.code, !code.isEmpty, state.joinCode != code, !isStale(event.at) else { return }
            state.joinCode = code
            note = "join code recorded"
            if state.status == .online { channel("\(name) crossplay join code: `\(code)`", kind: "join-code") }
        case .connecting, .wrongPassword, .worldLoaded:
            note = "noted \(kind.rawValue)"
        }
    }

    mutating func ready() {
        guard !isStale(event.at) else {
            note = "stale ready line"
            return
        }
        switch state.status {
        case .offline, .starting, .booting:
            if state.status == .offline {
                // The game came up without /start (started by hand, or restarted by its host).
                state.generation += 1
                state.startedAt = event.at
            }
            note = "\(state.status.rawValue) → online"
            state.status = .online
            state.readyAt = event.at
            if state.ip == nil { state.ip = settings.defaultAddress }
            var text = "\(name) is ready at `\(address ?? "its host")`"
            if let code = state.joinCode { text += " — crossplay join code `\(code)`" }
            text += ". Have fun!"
            updatePending(text, clear: true)
            channel(text, kind: "ready")
            if state.onlinePlayers == 0 {
                state.idleSince = event.at
                schedule(TimerEvent.idleCheck, due: event.at.addingTimeInterval(settings.idleTimeout))
            }
        case .online, .stopping:
            note = "ready while \(state.status.rawValue): nothing to do"
        }
    }

    /// Applies a player change if the event is newer than what the player record has seen.
    /// Returns whether the player's online flag changed.
    mutating func updatePlayer(_ l: LogEvent, online: Bool) -> Bool? {
        guard let player = l.player, !player.isEmpty else {
            note = "\(l.event) without a player name"
            return nil
        }
        guard state.status.isRunning else {
            note = "\(l.event) while \(state.status.rawValue): ignored"
            return nil
        }
        guard !isStale(event.at) else {
            note = "stale \(l.event)"
            return nil
        }
        if let existing = state.players[player], !existing.isOlderThan(at: event.at, seq: l.seq) {
            note = "older or duplicate \(l.event) for \(player)"
            return nil
        }
        let was = state.players[player]?.online ?? false
        state.players[player] = PlayerRecord(
            online: online, lastEventAt: event.at, lastSeq: l.seq, platformID: l.platformID ?? state.players[player]?.platformID)
        return was != online
    }

    mutating func join(_ l: LogEvent) {
        guard let changed = updatePlayer(l, online: true) else { return }
        guard changed, let player = l.player else {
            note = "\(l.player ?? "?") already online"
            return
        }
        state.lastActivityAt = event.at
        state.idleSince = nil
        note = "\(player) joined"
        channel("\(player) joined (\(state.onlinePlayers) online)", kind: "join")
    }

    mutating func leave(_ l: LogEvent) {
        if l.player == nil || l.player?.isEmpty == true {
            unnamedLeave(l)
            return
        }
        guard let changed = updatePlayer(l, online: false) else { return }
        guard changed, let player = l.player else {
            note = "\(l.player ?? "?") already offline"
            return
        }
        state.lastActivityAt = event.at
        note = "\(player) left"
        let count = state.onlinePlayers
        channel("\(player) left (\(count == 0 ? "nobody" : String(count)) online)", kind: "leave")
        if count == 0, state.status == .online {
            state.idleSince = event.at
            schedule(TimerEvent.idleCheck, due: event.at.addingTimeInterval(settings.idleTimeout))
        }
    }

    /// A departure the log did not name. With the game's own count at zero everyone is gone; otherwise there
    /// is no telling who left, and guessing would be worse than waiting for a named line.
    mutating func unnamedLeave(_ l: LogEvent) {
        guard l.count == 0, state.status == .online, !isStale(event.at) else {
            note = "leave without a player name: ignored"
            return
        }
        let leaving = state.onlineNames
        guard !leaving.isEmpty else {
            note = "nobody online already"
            return
        }
        for name in leaving {
            state.players[name]?.online = false
            state.players[name]?.lastEventAt = event.at
            state.players[name]?.lastSeq = l.seq
        }
        state.lastActivityAt = event.at
        state.idleSince = event.at
        note = "the game counts nobody online"
        channel("\(leaving.joined(separator: ", ")) left (nobody online)", kind: "leave-all")
        schedule(TimerEvent.idleCheck, due: event.at.addingTimeInterval(settings.idleTimeout))
    }

    mutating func shutdown() {
        guard !isStale(event.at) else {
            note = "stale shutdown line"
            return
        }
        // A shutdown line from before the current run's ready line is an old one, applied late.
        if let ready = state.readyAt, event.at < ready {
            note = "shutdown line older than the ready line: ignored"
            return
        }
        switch state.status {
        case .starting, .booting, .online:
            // The game quit without being asked: don't leave the host running (and billing) for nothing.
            note = "\(state.status.rawValue) → stopping (the game shut down)"
            updatePending("\(name) shut down by itself before it was ready.", clear: true)
            state.status = .stopping
            clearPlayers(at: event.at)
            channel("\(name) shut down by itself; stopping its host. Use `/start` to start it again.", kind: "shutdown")
            scale(0)
        case .offline, .stopping:
            note = "shutdown while \(state.status.rawValue): expected"
        }
    }

    // MARK: timers

    mutating func timer(_ t: TimerEvent) {
        guard (t.generation ?? -1) == state.generation else {
            note = "stale \(t.name) timer"
            return
        }
        switch t.name {
        case TimerEvent.idleCheck:
            guard state.status == .online, state.onlinePlayers == 0, let since = state.idleSince,
                now.timeIntervalSince(since) >= settings.idleTimeout - 1
            else {
                note = "idle check: not idle"
                return
            }
            note = "online → stopping (idle)"
            state.status = .stopping
            channel(
                "Nobody has been online for \(Brain.duration(settings.idleTimeout)) — stopping \(name) to save money. "
                    + "The world is saved first; `/start` brings it back.", kind: "idle-stop")
            scale(0)
        case TimerEvent.bootTimeout:
            guard state.status == .starting || state.status == .booting else {
                note = "boot timeout: already \(state.status.rawValue)"
                return
            }
            note = "\(state.status.rawValue) → stopping (boot timeout)"
            let text = "\(name) did not come up within \(Brain.duration(settings.bootTimeout)) — stopped it. Try `/start` again, or check the host."
            updatePending(text, clear: true)
            channel(text, kind: "boot-timeout")
            state.status = .stopping
            scale(0)
        default:
            note = "ignored timer \(t.name.prefix(32))"
        }
    }
}
