import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a failed Discord call means for the caller.
public enum DiscordError: Error, Equatable, CustomStringConvertible {
    /// Credentials needed for this call are not configured (names the setting).
    case notConfigured(String)
    /// 401: the bot token is wrong. Never retried (Discord bans IPs that keep sending invalid requests).
    case unauthorized
    /// 403: the bot lacks a permission (e.g. SEND_MESSAGES in the channel). Never retried.
    case forbidden(String)
    /// 404 (after the brief retry interaction edits get).
    case notFound(code: Int?, String)
    /// 429 with a wait longer than the client is willing to sleep.
    case throttled(retryAfter: Double)
    /// 5xx or a network failure that outlasted the retries.
    case transient(String)
    /// Any other refusal (400 with Discord's explanation, …).
    case permanent(status: Int, String)

    /// A readable explanation (never contains tokens).
    public var description: String {
        switch self {
        case .notConfigured(let what): "Discord is not configured: \(what)"
        case .unauthorized: "Discord answered 401: check DISCORD_BOT_TOKEN"
        case .forbidden(let m): "Discord answered 403: \(m)"
        case .notFound(let code, let m): "Discord answered 404\(code.map { " (code \($0))" } ?? ""): \(m)"
        case .throttled(let s): "Discord rate limit: retry after \(s) s"
        case .transient(let m): "Discord unavailable: \(m)"
        case .permanent(let status, let m): "Discord refused (\(status)): \(m)"
        }
    }
}

/// One REST route: method, path, and what identifies its rate-limit bucket.
public struct DiscordRoute: Sendable {
    /// HTTP method.
    public var method: String
    /// Path below the API base (`/channels/123/messages`).
    public var path: String
    /// The route's template with its major parameter (bucket identity); never contains a token.
    public var bucketKey: String
    /// Interaction webhooks need no bot token and are outside the global limit.
    public var isInteractionWebhook: Bool
    /// Retry a 404 "Unknown interaction" briefly: the worker can be faster than Discord's own bookkeeping.
    public var retriesUnknownInteraction: Bool

    /// `PUT /applications/{app}/commands` or the guild variant.
    public static func bulkOverwriteCommands(applicationID: String, guildID: String?) -> DiscordRoute {
        if let g = guildID {
            return DiscordRoute(
                method: "PUT", path: "/applications/\(applicationID)/guilds/\(g)/commands",
                bucketKey: "PUT /applications/\(applicationID)/guilds/\(g)/commands", isInteractionWebhook: false,
                retriesUnknownInteraction: false)
        }
        return DiscordRoute(
            method: "PUT", path: "/applications/\(applicationID)/commands",
            bucketKey: "PUT /applications/\(applicationID)/commands", isInteractionWebhook: false,
            retriesUnknownInteraction: false)
    }

    /// `PATCH /webhooks/{app}/{token}/messages/@original`.
    public static func editOriginal(applicationID: String, token: String) -> DiscordRoute {
        DiscordRoute(
            method: "PATCH", path: "/webhooks/\(applicationID)/\(token)/messages/@original",
            bucketKey: "PATCH /webhooks/\(applicationID)/\(tokenTag(token))/messages/@original",
            isInteractionWebhook: true, retriesUnknownInteraction: true)
    }

    /// `POST /webhooks/{app}/{token}` (a followup message).
    public static func followup(applicationID: String, token: String) -> DiscordRoute {
        DiscordRoute(
            method: "POST", path: "/webhooks/\(applicationID)/\(token)",
            bucketKey: "POST /webhooks/\(applicationID)/\(tokenTag(token))", isInteractionWebhook: true,
            retriesUnknownInteraction: true)
    }

    /// `POST /channels/{channel}/messages`.
    public static func createMessage(channelID: String) -> DiscordRoute {
        DiscordRoute(
            method: "POST", path: "/channels/\(channelID)/messages", bucketKey: "POST /channels/\(channelID)/messages",
            isInteractionWebhook: false, retriesUnknownInteraction: false)
    }

    /// A short, non-reversible tag for a token, so bucket keys (which may be logged) hold no secret.
    static func tokenTag(_ token: String) -> String { String(Hex.encode(Digest.sha256(token)).prefix(12)) }
}

/// A Discord REST client on URLSession that honours rate limits and retries what is worth retrying.
///
/// 429: waits `retry_after` (body) or `Retry-After` and tries again; bucket headers make later calls wait
/// before they would be limited. 5xx and network failures: exponential backoff. 404 "Unknown interaction"
/// on interaction webhooks: a brief retry. 401/403: fail at once, never in a loop.
public final class DiscordClient: Sendable {
    /// Retry settings.
    public struct Options: Sendable {
        /// Attempts per call, the first included.
        public var maxAttempts = 5
        /// The longest single rate-limit wait the client sleeps through; beyond it the call fails `throttled`.
        public var maxRetryAfter: Double = 60
        /// First backoff after a 5xx or network failure (doubles each time).
        public var serverErrorBackoff: Double = 0.5
        /// Delays between retries of a 404 "Unknown interaction".
        public var unknownInteractionDelays: [Double] = [0.25, 0.5, 1, 2]
        /// Per-request timeout in seconds.
        public var requestTimeout: Double = 10
        /// Sent as User-Agent.
        public var userAgent = "DiscordBot (https://github.com/skald-bot/skald, 0.1.0)"

        /// The defaults.
        public init() {}
    }

    /// Discord's REST response.
    public struct Response: Sendable {
        /// Status code.
        public var status: Int
        /// Body bytes.
        public var body: [UInt8]
    }

    private let baseURL: URL
    private let botToken: String?
    private let logger: Logger
    private let options: Options
    private let session: URLSession
    private let limiter = DiscordRateLimiter()

    /// Creates a client for `baseURL` (`https://discord.com/api/v10`, or a loopback recorder in tests).
    public init(baseURL: URL, botToken: String?, logger: Logger, options: Options = Options()) {
        self.baseURL = baseURL
        self.botToken = botToken
        self.logger = logger
        self.options = options
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = options.requestTimeout
        config.httpMaximumConnectionsPerHost = 8
        session = URLSession(configuration: config)
    }

    /// Overwrites the application's commands (for one guild, or globally) and returns what Discord stored.
    public func bulkOverwriteCommands(applicationID: String, guildID: String?, commands: [ApplicationCommand])
        async throws(DiscordError) -> [ApplicationCommand]
    {
        let r = try await send(
            .bulkOverwriteCommands(applicationID: applicationID, guildID: guildID), json: encode(commands))
        guard let decoded = try? JSONDecoder().decode([ApplicationCommand].self, from: Data(r.body)) else {
            throw .permanent(status: r.status, "unexpected response to command registration")
        }
        return decoded
    }

    /// Edits the original response of an interaction.
    public func editOriginalResponse(applicationID: String, token: String, content: String) async throws(DiscordError) {
        _ = try await send(
            .editOriginal(applicationID: applicationID, token: token),
            json: encode(MessageBody(content: Self.clip(content))))
    }

    /// Sends a followup message to an interaction.
    public func followup(applicationID: String, token: String, content: String, ephemeral: Bool) async throws(DiscordError) {
        _ = try await send(
            .followup(applicationID: applicationID, token: token),
            json: encode(MessageBody(content: Self.clip(content), flags: ephemeral ? MessageFlags.ephemeral : nil)))
    }

    /// Posts a channel message. `nonce` (≤ 25 characters) with `enforce_nonce` makes a repeat of the same
    /// notice return the earlier message instead of posting twice.
    @discardableResult
    public func createMessage(channelID: String, content: String, nonce: String?) async throws(DiscordError)
        -> DiscordMessage?
    {
        let body = MessageBody(
            content: Self.clip(content), nonce: nonce.map { String($0.prefix(25)) },
            enforceNonce: nonce == nil ? nil : true)
        let r = try await send(.createMessage(channelID: channelID), json: encode(body))
        return try? JSONDecoder().decode(DiscordMessage.self, from: Data(r.body))
    }

    /// Sends one request with rate limiting and retries.
    public func send(_ route: DiscordRoute, json body: [UInt8]?) async throws(DiscordError) -> Response {
        if !route.isInteractionWebhook, botToken == nil { throw .notConfigured("DISCORD_BOT_TOKEN is not set") }
        var attempt = 0
        var unknownRetries = 0
        var backoff = options.serverErrorBackoff
        while true {
            attempt += 1
            // Wait for the bucket (and the global limit) before sending.
            while true {
                let wait = await limiter.reserve(bucketKey: route.bucketKey, global: !route.isInteractionWebhook)
                if wait <= 0 { break }
                if wait > options.maxRetryAfter { throw .throttled(retryAfter: wait) }
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000) + 1))
            }
            let outcome = await perform(route, body: body)
            switch outcome {
            case .network(let message):
                guard attempt < options.maxAttempts else { throw .transient(message) }
                logger.warning(
                    "discord request failed; retrying",
                    metadata: ["discord.route": .string(route.bucketKey), "error": .string(message)])
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff *= 2
            case .response(let status, let headers, let data):
                await limiter.record(bucketKey: route.bucketKey, headers: headers)
                switch status {
                case 200..<300:
                    return Response(status: status, body: data)
                case 429:
                    let info = RateLimitInfo(headers: headers, body: data)
                    await limiter.block(bucketKey: route.bucketKey, seconds: info.retryAfter, global: info.global)
                    logger.warning(
                        "discord rate limited",
                        metadata: [
                            "discord.route": .string(route.bucketKey), "discord.retry_after": .double(info.retryAfter),
                            "discord.global": .bool(info.global),
                        ])
                    if info.retryAfter > options.maxRetryAfter || attempt >= options.maxAttempts {
                        throw .throttled(retryAfter: info.retryAfter)
                    }
                // The loop waits on the limiter before the next attempt.
                case 401:
                    throw .unauthorized
                case 403:
                    throw .forbidden(Self.errorMessage(data))
                case 404:
                    let code = Self.errorCode(data)
                    // 10062 Unknown interaction, 10015 Unknown webhook: Discord may not have caught up yet.
                    if route.retriesUnknownInteraction, code == 10062 || code == 10015 || code == nil,
                        unknownRetries < options.unknownInteractionDelays.count
                    {
                        let delay = options.unknownInteractionDelays[unknownRetries]
                        unknownRetries += 1
                        attempt -= 1
                        try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                        continue
                    }
                    throw .notFound(code: code, Self.errorMessage(data))
                case 500..<600:
                    guard attempt < options.maxAttempts else { throw .transient("HTTP \(status)") }
                    logger.warning(
                        "discord server error; retrying",
                        metadata: ["discord.route": .string(route.bucketKey), "http.status": .int(status)])
                    try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                    backoff *= 2
                default:
                    throw .permanent(status: status, Self.errorMessage(data))
                }
            }
        }
    }

    private enum Outcome {
        case response(Int, [String: String], [UInt8])
        case network(String)
    }

    private func perform(_ route: DiscordRoute, body: [UInt8]?) async -> Outcome {
        guard let url = URL(string: baseURL.absoluteString.trimmingTrailingSlash + route.path) else {
            return .network("invalid URL")
        }
        var request = URLRequest(url: url)
        request.httpMethod = route.method
        request.setValue(options.userAgent, forHTTPHeaderField: "User-Agent")
        if !route.isInteractionWebhook, let token = botToken {
            request.setValue("Bot \(token)", forHTTPHeaderField: "Authorization")
        }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body)
        }
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { return .network("not an HTTP response") }
            var headers: [String: String] = [:]
            for (k, v) in http.allHeaderFields {
                if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
            }
            return .response(http.statusCode, headers, Array(data))
        } catch {
            // URLError descriptions hold the URL, which for webhooks holds the token: describe by code only.
            if let u = error as? URLError { return .network("network error \(u.code.rawValue)") }
            return .network("network error")
        }
    }

    private struct MessageBody: Encodable {
        var content: String
        var flags: Int? = nil
        var nonce: String? = nil
        var enforceNonce: Bool? = nil
        var allowedMentions = AllowedMentions()

        enum CodingKeys: String, CodingKey {
            case content, flags, nonce
            case enforceNonce = "enforce_nonce"
            case allowedMentions = "allowed_mentions"
        }
    }

    private func encode<T: Encodable>(_ value: T) -> [UInt8] {
        (try? Array(JSONCoding.encoder.encode(value))) ?? []
    }

    /// Discord's limit is 2000 characters per message.
    static func clip(_ s: String) -> String { s.count <= 2000 ? s : String(s.prefix(1999)) + "…" }

    private struct ErrorBody: Decodable {
        var message: String?
        var code: Int?
    }

    static func errorCode(_ data: [UInt8]) -> Int? {
        (try? JSONDecoder().decode(ErrorBody.self, from: Data(data)))?.code
    }

    static func errorMessage(_ data: [UInt8]) -> String {
        let m = (try? JSONDecoder().decode(ErrorBody.self, from: Data(data)))?.message
        return m.map { String($0.prefix(200)) } ?? "no message"
    }
}

/// What a 429 says: how long to wait and whether the limit is global.
struct RateLimitInfo {
    var retryAfter: Double
    var global: Bool

    init(headers: [String: String], body: [UInt8]) {
        struct Body: Decodable {
            var retryAfter: Double?
            var global: Bool?
            enum CodingKeys: String, CodingKey {
                case retryAfter = "retry_after"
                case global
            }
        }
        let parsed = try? JSONDecoder().decode(Body.self, from: Data(body))
        let fromHeader = headers["retry-after"].flatMap(Double.init)
        let fromReset = headers["x-ratelimit-reset-after"].flatMap(Double.init)
        let raw = parsed?.retryAfter ?? fromHeader ?? fromReset ?? 1
        // A peer's number: keep it finite and sane before it becomes a sleep or a deadline.
        retryAfter = raw.isFinite ? min(max(0, raw), 86_400) : 86_400
        global = parsed?.global ?? (headers["x-ratelimit-global"]?.lowercased() == "true")
    }
}

/// Tracks Discord's rate-limit buckets from `X-RateLimit-*` headers, plus the global 50 requests/s limit.
actor DiscordRateLimiter {
    private struct Bucket {
        var remaining: Int
        var resetAt: UInt64
    }

    private var bucketOfRoute: [String: String] = [:]
    private var buckets: [String: Bucket] = [:]
    private var globalBlockedUntil: UInt64 = 0
    private var globalWindowStart: UInt64 = 0
    private var globalCount = 0
    private let globalPerSecond = 50

    /// Seconds to wait before sending on `bucketKey` (0: go now, and the request is counted).
    func reserve(bucketKey: String, global: Bool) -> Double {
        let now = Monotonic.nanoseconds()
        if global {
            if globalBlockedUntil > now { return Double(globalBlockedUntil - now) / 1e9 }
            if now - globalWindowStart >= 1_000_000_000 {
                globalWindowStart = now
                globalCount = 0
            }
            if globalCount >= globalPerSecond { return Double(globalWindowStart + 1_000_000_000 - now) / 1e9 }
        }
        if let id = bucketOfRoute[bucketKey], var b = buckets[id] {
            if b.resetAt <= now {
                buckets[id] = nil
            } else if b.remaining <= 0 {
                return Double(b.resetAt - now) / 1e9
            } else {
                b.remaining -= 1
                buckets[id] = b
            }
        }
        if global { globalCount += 1 }
        return 0
    }

    /// Learns the bucket's state from a response's headers.
    func record(bucketKey: String, headers: [String: String]) {
        guard let hash = headers["x-ratelimit-bucket"] else { return }
        let id = hash + "|" + bucketKey
        bucketOfRoute[bucketKey] = id
        if let remaining = headers["x-ratelimit-remaining"].flatMap(Int.init),
            let resetAfter = headers["x-ratelimit-reset-after"].flatMap(Double.init), resetAfter.isFinite,
            resetAfter < 86_400
        {
            buckets[id] = Bucket(
                remaining: remaining, resetAt: Monotonic.nanoseconds() + UInt64(max(0, resetAfter) * 1e9))
        }
    }

    /// Blocks a bucket (or everything) for `seconds` after a 429.
    func block(bucketKey: String, seconds: Double, global: Bool) {
        let until = Monotonic.nanoseconds() + UInt64(min(max(0, seconds), 86_400) * 1e9)
        if global {
            globalBlockedUntil = max(globalBlockedUntil, until)
            return
        }
        let id = bucketOfRoute[bucketKey] ?? ("route|" + bucketKey)
        bucketOfRoute[bucketKey] = id
        buckets[id] = Bucket(remaining: 0, resetAt: until)
    }
}

extension String {
    var trimmingTrailingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
