import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// What to follow.
public enum WatchTarget: Sendable, Equatable {
    /// A log file (rotation-safe tail).
    case file(String)
    /// A container's log through `docker logs -f`.
    case docker(String)
    /// Any command's output.
    case command(String)

    /// A short, stable name for the cursor and spool files.
    var slug: String {
        let (kind, value): (String, String)
        switch self {
        case .file(let p): (kind, value) = ("file", URL(fileURLWithPath: p).standardizedFileURL.path)
        case .docker(let n): (kind, value) = ("docker", n)
        case .command(let c): (kind, value) = ("command", c)
        }
        return kind + "-" + Hex.encode(Array(Digest.sha256(value).prefix(6)))
    }
}

/// Configuration of the log watcher (`skald watch`, and the watcher part of `skald up`).
public struct WatcherConfig: Sendable {
    /// `SKALD_SERVER`.
    public var server: String
    /// `SKALD_HOST_NAME` (default: the machine's host name): names this host in events.
    public var hostName: String
    /// `SKALD_HOST_ADDRESS`: reported at start so the worker can announce `ip:port`.
    public var hostAddress: String?
    /// `SKALD_INGEST_URL`: deliver to a Skald API's `POST /events` instead of the local queue.
    public var ingestURL: URL?
    /// `SKALD_INGEST_TOKEN`: the bearer token for it.
    public var ingestToken: String?
    /// `SKALD_SPOOL_MAX_MB` in bytes.
    public var spoolMaxBytes: Int64
    /// Where cursors, spools (and the local queue) live.
    public var storage: StorageSettings
    /// `SKALD_LOG_TIMEZONE`: the zone the game writes its log times in (default: this machine's zone).
    public var logTimeZone: TimeZone

    /// Reads the configuration, recording every problem in `reader`.
    public static func load(from r: inout ConfigReader, common: CommonSettings, storage: StorageSettings) -> WatcherConfig? {
        let host = r.optional("SKALD_HOST_NAME", default: Self.machineName(), "a host name without spaces", { s in
            s.contains(where: { $0.isWhitespace || $0 == ":" }) ? nil : s
        })
        let address = r.optional("SKALD_HOST_ADDRESS", "the address players connect to", { s in
            s.contains(where: { $0.isWhitespace }) ? nil : s
        })
        let url = r.optional("SKALD_INGEST_URL", "an http(s) URL of a Skald API", ConfigParse.httpURL)
        let token = r.optional("SKALD_INGEST_TOKEN", "at least 16 characters, no whitespace") { s -> String? in
            s.count >= 16 && !s.contains(where: { $0.isWhitespace }) ? s : nil
        }
        if url != nil, token == nil, r.raw("SKALD_INGEST_TOKEN") == nil {
            r.report("SKALD_INGEST_TOKEN", "missing (needed with SKALD_INGEST_URL)")
        }
        let spoolMB = r.optional("SKALD_SPOOL_MAX_MB", default: 100, "a whole number of megabytes 1–100000", ConfigParse.int(in: 1...100_000))
        let zone = Self.logTimeZone(from: &r)
        return WatcherConfig(
            server: common.server, hostName: host, hostAddress: address, ingestURL: url, ingestToken: token,
            spoolMaxBytes: Int64(spoolMB) << 20, storage: storage, logTimeZone: zone)
    }

    /// Reads `SKALD_LOG_TIMEZONE` (an IANA zone such as `Europe/Oslo`, or `UTC`); default: this machine's zone.
    public static func logTimeZone(from r: inout ConfigReader) -> TimeZone {
        r.optional("SKALD_LOG_TIMEZONE", default: TimeZone.current, "an IANA time zone such as Europe/Oslo or UTC", TimeZone.init(identifier:))
    }

    /// Builds the watcher for `target`, delivering to `queue` (same host) or to the ingest URL when set.
    public func makeWatcher(target: WatchTarget, queue: (any EventQueue)?, logger: Logger, dockerPath: String = "docker")
        -> LogWatcher<Valheim>
    {
        let sink: any EventSink
        if let url = ingestURL, let token = ingestToken {
            sink = HTTPIngestSink(url: url, token: token)
        } else {
            sink = QueueSink(queue: queue!)
        }
        var settings = WatcherSettings(server: server, host: hostName, hostAddress: hostAddress)
        settings.spoolMaxBytes = spoolMaxBytes
        settings.timeZone = logTimeZone
        let log = logger
        return LogWatcher<Valheim>(
            name: "\(server)-\(target.slug)", dataDirectory: storage.dataDirectory, settings: settings, sink: sink, logger: logger
        ) { position in
            switch target {
            case .file(let path): return FileTailSource(path: path, resumeFrom: position, logger: log)
            case .docker(let name):
                return ProcessSource(kind: .docker(container: name, dockerPath: dockerPath), resumeFrom: position, logger: log)
            case .command(let cmd): return ProcessSource(kind: .command(cmd), resumeFrom: nil, logger: log)
            }
        }
    }

    /// True when events go to a remote API rather than the local queue.
    public var usesIngest: Bool { ingestURL != nil }

    static func machineName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "host" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "host" : name.replacingOccurrences(of: ":", with: "-")
    }
}
