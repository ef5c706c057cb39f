import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A small swift-log-shaped logger: levels, a label, metadata with dotted keys, and a pluggable handler.
///
/// Libraries accept a `Logger`; only the executable picks the handler (JSON lines on stderr).
public struct Logger: Sendable {
    /// Severity, lowest first.
    public enum Level: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        case trace, debug, info, notice, warning, error, critical

        /// The level's lowercase name.
        public var description: String {
            switch self {
            case .trace: "trace"
            case .debug: "debug"
            case .info: "info"
            case .notice: "notice"
            case .warning: "warning"
            case .error: "error"
            case .critical: "critical"
            }
        }

        /// Parses a level name (case-insensitive).
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
            self = level
        }

        /// Orders by severity.
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// Metadata: dotted keys (`interaction.id`) to values.
    public typealias Metadata = [String: MetadataValue]

    /// The component name, e.g. `skald.api`.
    public var label: String
    /// Messages below this level are discarded before they are built.
    public var logLevel: Level
    /// Metadata attached to every message.
    public var metadata: Metadata
    /// Where records go.
    public let handler: any LogHandler

    /// Creates a logger.
    public init(label: String, level: Level = .info, metadata: Metadata = [:], handler: any LogHandler) {
        self.label = label
        self.logLevel = level
        self.metadata = metadata
        self.handler = handler
    }

    /// A logger that discards everything.
    public static func disabled(_ label: String = "skald") -> Logger {
        Logger(label: label, level: .critical, handler: NullLogHandler())
    }

    /// The same logger with more metadata attached.
    public func with(_ extra: Metadata) -> Logger {
        var copy = self
        copy.metadata.merge(extra) { _, new in new }
        return copy
    }

    /// The same logger under another label.
    public func labelled(_ label: String) -> Logger {
        var copy = self
        copy.label = label
        return copy
    }

    /// Logs at `level` when enabled; the message and metadata are built only then.
    public func log(
        _ level: Level, _ message: @autoclosure () -> String, metadata extra: @autoclosure () -> Metadata = [:]
    ) {
        guard level >= logLevel else { return }
        var all = metadata
        let e = extra()
        if !e.isEmpty { all.merge(e) { _, new in new } }
        handler.log(LogRecord(date: Date(), level: level, label: label, message: message(), metadata: all))
    }

    /// Logs at trace level.
    public func trace(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.trace, message(), metadata: metadata())
    }
    /// Logs at debug level.
    public func debug(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.debug, message(), metadata: metadata())
    }
    /// Logs at info level.
    public func info(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.info, message(), metadata: metadata())
    }
    /// Logs at notice level.
    public func notice(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.notice, message(), metadata: metadata())
    }
    /// Logs at warning level.
    public func warning(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.warning, message(), metadata: metadata())
    }
    /// Logs at error level.
    public func error(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.error, message(), metadata: metadata())
    }
    /// Logs at critical level.
    public func critical(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.critical, message(), metadata: metadata())
    }
}

/// A metadata value.
public enum MetadataValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral, CustomStringConvertible
{
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([MetadataValue])
    /// A value that is never printed (tokens, keys, signatures).
    case redacted

    /// Wraps a string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// Wraps an integer.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// Wraps a Bool.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// Wraps a Double.
    public init(floatLiteral value: Double) { self = .double(value) }

    /// A plain rendering, used by the console handler.
    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .redacted: "[redacted]"
        }
    }
}

/// One log record as a handler receives it.
public struct LogRecord: Sendable {
    /// When it was logged.
    public var date: Date
    /// Its severity.
    public var level: Logger.Level
    /// The logger's label.
    public var label: String
    /// The message.
    public var message: String
    /// Merged metadata.
    public var metadata: Logger.Metadata
}

/// A log backend (swift-log's `LogHandler`, reduced to what Skald needs).
public protocol LogHandler: Sendable {
    /// Emits one record.
    func log(_ record: LogRecord)
}

/// Discards every record.
public struct NullLogHandler: LogHandler {
    /// Creates the handler.
    public init() {}
    /// Does nothing.
    public func log(_ record: LogRecord) {}
}

/// Redaction rules shared by every handler: secrets never reach a log line.
public enum Redaction {
    /// Key fragments whose values are never printed.
    static let sensitiveFragments = [
        "token", "secret", "signature", "password", "authorization", "apikey", "api_key", "privatekey",
        "private_key", "accountkey", "account_key", "credential", "cookie",
    ]

    /// True when a metadata key names a secret (any dotted component containing a sensitive fragment).
    public static func isSensitive(key: String) -> Bool {
        let lower = key.lowercased()
        if lower.hasSuffix(".key") || lower == "key" { return true }
        return sensitiveFragments.contains { lower.contains($0) }
    }

    /// The value to print for `key`.
    public static func apply(key: String, value: MetadataValue) -> MetadataValue {
        isSensitive(key: key) ? .redacted : value
    }
}

/// Writes one JSON object per line to a file descriptor (stderr by default), secrets redacted.
public final class JSONLogHandler: LogHandler {
    private let fd: Int32
    private let lock = Mutex(())

    /// Creates a handler writing to `fd`.
    public init(fd: Int32 = 2) { self.fd = fd }

    /// Emits one record as a JSON line; the whole line is one `write` so concurrent lines never interleave.
    public func log(_ record: LogRecord) {
        var line = JSONLineWriter()
        line.field("ts", Timestamp.format(record.date))
        line.field("level", record.level.description)
        line.field("label", record.label)
        line.field("msg", record.message)
        for key in record.metadata.keys.sorted() {
            guard key != "ts", key != "level", key != "label", key != "msg" else { continue }
            line.field(key, Redaction.apply(key: key, value: record.metadata[key]!))
        }
        var bytes = line.finish()
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 {
                        if n < 0, errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }
}

/// Keeps records in memory; tests read them back.
public final class InMemoryLogHandler: LogHandler {
    private let store = Mutex<[LogRecord]>([])

    /// Creates an empty store.
    public init() {}

    /// Stores a record, redacting secrets exactly as the JSON handler does.
    public func log(_ record: LogRecord) {
        var r = record
        r.metadata = Dictionary(uniqueKeysWithValues: r.metadata.map { ($0.key, Redaction.apply(key: $0.key, value: $0.value)) })
        store.withLock { $0.append(r) }
    }

    /// Everything logged so far.
    public var records: [LogRecord] { store.withLock { $0 } }

    /// Every record rendered as one line of text, for "never printed" assertions.
    public var renderedLines: [String] {
        records.map { r in
            r.message + " " + r.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
    }
}

/// Builds one compact JSON object without Foundation's encoder (cheap enough for hot paths).
public struct JSONLineWriter {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    /// Starts an empty object.
    public init() {}

    /// Adds a string field.
    public mutating func field(_ key: String, _ value: String) {
        separator()
        JSONText.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        JSONText.appendString(value, to: &bytes)
    }

    /// Adds a metadata field.
    public mutating func field(_ key: String, _ value: MetadataValue) {
        separator()
        JSONText.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        append(value)
    }

    /// Closes the object and returns its bytes.
    public mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func separator() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
    }

    private mutating func append(_ value: MetadataValue) {
        switch value {
        case .string(let s): JSONText.appendString(s, to: &bytes)
        case .int(let i): bytes.append(contentsOf: String(i).utf8)
        case .double(let d): bytes.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
        case .bool(let b): bytes.append(contentsOf: (b ? "true" : "false").utf8)
        case .redacted: JSONText.appendString("[redacted]", to: &bytes)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                append(v)
            }
            bytes.append(UInt8(ascii: "]"))
        }
    }
}

/// JSON string escaping.
public enum JSONText {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a quoted, escaped JSON string.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0f)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `s` as a quoted JSON string.
    public static func quoted(_ s: String) -> String {
        var out = [UInt8]()
        appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
