import Foundation
import Shared

/// The HTTP face of Skald: `POST /interactions` (Discord), `POST /events` (watcher ingest), `GET /healthz`.
///
/// It verifies, validates, enqueues and answers. It never calls a cloud control plane or waits on the game.
public struct InteractionsEndpoint: HTTPHandler {
    private let config: APIConfig
    private let policy: CommandPolicy
    private let queue: any EventQueue
    private let clock: any WallClock
    private let logger: Logger

    /// Creates the endpoint over `queue`.
    public init(config: APIConfig, queue: any EventQueue, clock: any WallClock = SystemClock(), logger: Logger) {
        self.config = config
        self.policy = CommandPolicy(
            defaultServer: config.server, allowedRoles: config.allowedRoles, applicationID: config.applicationID)
        self.queue = queue
        self.clock = clock
        self.logger = logger
    }

    /// Routes one request.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/interactions":
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            return await interactions(request)
        case "/events":
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            return await ingest(request)
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return await health()
        default:
            return .error(404, "not found")
        }
    }

    // MARK: /interactions

    private static let unauthorized = HTTPResponse(status: 401, headers: ["Content-Type": "text/plain"], body: Array("invalid request signature".utf8))

    private func interactions(_ request: HTTPRequest) async -> HTTPResponse {
        // Signature first; any failure is a bare 401 (Discord probes with bad signatures on purpose).
        guard let signature = request.headers["X-Signature-Ed25519"],
            let timestamp = request.headers["X-Signature-Timestamp"],
            config.publicKey.verifyDiscord(signatureHex: signature, timestamp: timestamp, body: request.body)
        else {
            return Self.unauthorized
        }
        let now = clock.now()
        guard let signedAt = Double(timestamp), abs(now.timeIntervalSince1970 - signedAt) <= config.replayWindow else {
            logger.warning("refused a signed interaction outside the replay window", metadata: ["http.remote": .string(request.remoteAddress)])
            return Self.unauthorized
        }
        let interaction: Interaction
        do {
            interaction = try JSONDecoder().decode(Interaction.self, from: Data(request.body))
        } catch {
            return .error(400, "malformed interaction")
        }
        switch policy.decide(interaction, now: now) {
        case .reply(let response):
            if interaction.type != .ping {
                logger.info(
                    "answered interaction", metadata: interactionMetadata(interaction).merging(["outcome": "reply"]) { $1 })
            }
            return .json(encoding: response)
        case .enqueue(let envelope, let response, let onFailure):
            do {
                let outcome = try await queue.send(envelope)
                logger.info(
                    "queued command",
                    metadata: interactionMetadata(interaction).merging([
                        "event.id": .string(envelope.id), "queue.outcome": .string(outcome.rawValue),
                        "server": .string(envelope.server),
                    ]) { $1 })
                return .json(encoding: response)
            } catch {
                logger.error(
                    "could not queue command",
                    metadata: interactionMetadata(interaction).merging(["error": .string("\(error)")]) { $1 })
                return .json(encoding: onFailure)
            }
        }
    }

    private func interactionMetadata(_ i: Interaction) -> Logger.Metadata {
        var m: Logger.Metadata = ["interaction.id": .string(i.id), "interaction.type": .int(i.type.rawValue)]
        if let name = i.data?.name { m["interaction.command"] = .string(String(name.prefix(32))) }
        if let user = i.invoker { m["user.id"] = .string(user.id) }
        if let g = i.guildID { m["guild.id"] = .string(g) }
        return m
    }

    // MARK: /events

    private func ingest(_ request: HTTPRequest) async -> HTTPResponse {
        guard let expected = config.ingestToken else {
            return .error(404, "event ingest is disabled (set SKALD_INGEST_TOKEN to enable it)")
        }
        let presented = request.headers["Authorization"].flatMap { h -> String? in
            let parts = h.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            return String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        guard let presented, Digest.constantTimeEquals(Array(presented.utf8), Array(expected.utf8)) else {
            var r = HTTPResponse.error(401, "missing or wrong bearer token")
            r.headers.add("WWW-Authenticate", "Bearer")
            return r
        }
        let elements: [EventEnvelope.DecodedElement]
        do {
            elements = try EventEnvelope.decodeMany(request.body)
        } catch {
            return .error(400, "body must be an event envelope or a JSON array of them: \(error)")
        }
        let valid = elements.compactMap { try? $0.result.get() }
        var poisoned = 0
        do {
            // Valid events first: they matter most if the queue fails half-way (the sender retries all).
            let outcomes = try await queue.send(valid)
            for element in elements {
                guard case .failure(let reason) = element.result else { continue }
                // Nothing is dropped: what cannot be queued is kept in the poison queue with its reason.
                let id = element.declaredID ?? "unparsed:" + Hex.encode(Array(Digest.sha256(element.raw).prefix(8)))
                try await queue.poisonUnsent(element.raw, eventID: id, reason: "rejected at ingest: \(reason)")
                poisoned += 1
                logger.warning(
                    "poisoned an ingested event", metadata: ["event.id": .string(id), "reason": .string("\(reason)")])
            }
            let duplicates = outcomes.filter { $0 == .duplicate }.count
            var w = JSONLineWriter()
            w.field("accepted", .int(valid.count - duplicates))
            w.field("duplicates", .int(duplicates))
            w.field("poisoned", .int(poisoned))
            return .json(202, w.finish())
        } catch {
            logger.error("ingest could not reach the queue", metadata: ["error": .string("\(error)")])
            var r = HTTPResponse.error(503, "queue unavailable; retry later")
            r.headers.add("Retry-After", "1")
            return r
        }
    }

    // MARK: /healthz

    private func health() async -> HTTPResponse {
        do {
            try await queue.ping()
            var w = JSONLineWriter()
            w.field("status", "ok")
            w.field("queue", queue.backendDescription)
            return .json(200, w.finish())
        } catch {
            var w = JSONLineWriter()
            w.field("status", "unavailable")
            w.field("error", "the events queue cannot be reached")
            return .json(503, w.finish())
        }
    }

    private func methodNotAllowed(_ allow: String) -> HTTPResponse {
        var r = HTTPResponse.error(405, "method not allowed")
        r.headers.add("Allow", allow)
        return r
    }
}
