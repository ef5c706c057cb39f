import Foundation

/// Every missing or invalid setting found while loading a configuration, reported at once (exit code 78).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// One problem with one setting.
    public struct Problem: Sendable, Equatable {
        /// The environment variable.
        public var key: String
        /// What is wrong and what is expected (never the value itself: it may be a secret).
        public var message: String

        /// Creates a problem.
        public init(key: String, message: String) {
            self.key = key
            self.message = message
        }
    }

    /// All problems, in the order they were found.
    public var problems: [Problem]

    /// Creates an error from problems.
    public init(problems: [Problem]) {
        self.problems = problems
    }

    /// A human-readable report naming every setting.
    public var description: String {
        "configuration error (\(problems.count) setting\(problems.count == 1 ? "" : "s")):\n"
            + problems.map { "  \($0.key): \($0.message)" }.joined(separator: "\n")
    }
}

/// Reads settings from an environment, collecting every problem instead of stopping at the first.
///
/// Empty values count as unset. Values are never echoed in messages, so a secret pasted into the wrong
/// variable does not end up in a log.
public struct ConfigReader {
    /// The environment being read.
    public let environment: [String: String]
    /// Problems found so far.
    public private(set) var problems: [ConfigError.Problem] = []

    /// Creates a reader over `environment` (the process environment by default).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The raw value, trimmed; `nil` when unset or blank.
    public func raw(_ key: String) -> String? {
        guard let v = environment[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
        return v
    }

    /// A required setting: records "missing" or "invalid: <expected>" and returns `nil` on a problem.
    public mutating func required<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) -> T? {
        guard let v = raw(key) else {
            add(.init(key: key, message: "missing (\(expected))"))
            return nil
        }
        guard let parsed = parse(v) else {
            add(.init(key: key, message: "invalid (expected \(expected))"))
            return nil
        }
        return parsed
    }

    /// Records a problem once (deployables that share a setting read it each).
    private mutating func add(_ problem: ConfigError.Problem) {
        if !problems.contains(where: { $0.key == problem.key }) { problems.append(problem) }
    }

    /// An optional setting with a default; records "invalid" when set but unparsable.
    public mutating func optional<T>(_ key: String, default value: T, _ expected: String, _ parse: (String) -> T?) -> T {
        optional(key, expected, parse) ?? value
    }

    /// An optional setting without a default.
    public mutating func optional<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) -> T? {
        guard let v = raw(key) else { return nil }
        guard let parsed = parse(v) else {
            add(.init(key: key, message: "invalid (expected \(expected))"))
            return nil
        }
        return parsed
    }

    /// Records a problem that involves more than one setting.
    public mutating func report(_ key: String, _ message: String) {
        add(.init(key: key, message: message))
    }

    /// Throws every problem found, if any.
    public func finish() throws(ConfigError) {
        if !problems.isEmpty { throw ConfigError(problems: problems) }
    }
}

/// Parsers for common setting shapes.
public enum ConfigParse {
    /// Any non-empty string.
    public static func string(_ s: String) -> String? { s }

    /// A `host:port` pair (IPv6 hosts in brackets); port 0 means "any free port".
    public static func hostPort(_ s: String) -> HostPort? { HostPort(parsing: s) }

    /// A positive, finite number of minutes (decimals allowed), as seconds.
    public static func positiveMinutes(_ s: String) -> Double? {
        // At most a year: beyond that a "never" is better written as a year than as an overflow.
        guard let v = Double(s), v.isFinite, v > 0, v <= 525_600 else { return nil }
        return v * 60
    }

    /// An integer within `range`.
    public static func int(in range: ClosedRange<Int>) -> (String) -> Int? {
        { s in Int(s).flatMap { range.contains($0) ? $0 : nil } }
    }

    /// An absolute http(s) URL.
    public static func httpURL(_ s: String) -> URL? {
        guard let u = URL(string: s), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
            u.host != nil
        else { return nil }
        return u
    }

    /// A Discord snowflake (decimal digits).
    public static func snowflake(_ s: String) -> String? {
        (1...20).contains(s.count) && s.allSatisfy(\.isASCIIDigit) ? s : nil
    }

    /// A comma-separated list of snowflakes (blanks ignored).
    public static func snowflakeList(_ s: String) -> [String]? {
        let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { return nil }
        var out: [String] = []
        for p in parts {
            guard let id = snowflake(p) else { return nil }
            out.append(id)
        }
        return out
    }

    /// A server name: 1–64 characters of letters, digits, `-`, `_`, `.`.
    public static func serverName(_ s: String) -> String? { ServerName.isValid(s) ? s : nil }

    /// A log level name.
    public static func logLevel(_ s: String) -> Logger.Level? { Logger.Level(name: s) }
}

/// The rule for server names (they key state records and appear in event ids).
public enum ServerName {
    /// True for 1–64 characters of ASCII letters, digits, `-`, `_`, `.`.
    public static func isValid(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count)
            && s.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D
                    || c == 0x5F || c == 0x2E
            }
    }
}

/// A listening or connecting address: host and port.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    /// Host name or IP literal (without brackets).
    public var host: String
    /// TCP port (0 = any free port when listening).
    public var port: UInt16

    /// Creates an address.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`.
    public init?(parsing s: String) {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()), !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            let host = String(s[..<colon])
            guard !host.isEmpty, !host.contains(":"), let port = UInt16(s[s.index(after: colon)...]) else { return nil }
            self.init(host: host, port: port)
        }
    }

    /// `host:port`, bracketing IPv6 literals.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Character {
    /// True for the ASCII digits 0–9.
    var isASCIIDigit: Bool { isASCII && isNumber }
}
