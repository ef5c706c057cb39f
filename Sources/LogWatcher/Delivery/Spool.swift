import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// A durable, bounded on-disk spool of events waiting for the sink, replayed in order.
///
/// One append-only file of JSON lines (`events.jsonl`) and the offset replay has reached (`replay.offset`).
/// Appends are fsynced before they count as accepted. When the sink has taken everything the file is emptied.
/// When the spool is full the oldest events are kept and new ones are refused, with a loud warning: the
/// watcher then stops reading until the sink takes events again, so the refused ones wait in the log itself.
final class Spool {
    private let dataPath: String
    private let offsetPath: String
    private let maxBytes: Int64
    private let logger: Logger
    private var fd: Int32
    private var size: Int64
    private(set) var replayOffset: Int64
    private var lastFullWarning: UInt64 = 0
    /// Events refused because the spool was full, since start.
    private(set) var refused = 0

    /// Opens (creating) the spool in `directory`.
    init(directory: String, maxBytes: Int64, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        dataPath = directory + "/events.jsonl"
        offsetPath = directory + "/replay.offset"
        self.maxBytes = maxBytes
        self.logger = logger
        fd = open(dataPath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var st = stat()
        fstat(fd, &st)
        size = Int64(st.st_size)
        let saved = (try? String(contentsOfFile: offsetPath, encoding: .utf8)).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        replayOffset = min(saved ?? 0, size)
        // A crash in the middle of an append can leave a torn last line: drop it (it was never acknowledged).
        trimTornTail()
        if !isEmpty {
            logger.notice("spool holds events from before; they are replayed first", metadata: ["spool.bytes": .int(Int(size - replayOffset))])
        }
    }

    deinit { close(fd) }

    /// True when nothing waits.
    var isEmpty: Bool { replayOffset >= size }

    /// Bytes waiting.
    var pendingBytes: Int64 { size - replayOffset }

    /// Appends events durably. Returns how many were refused because the spool is full.
    func append(_ events: [EventEnvelope]) throws -> Int {
        var bytes = [UInt8]()
        var accepted = 0
        for e in events {
            let line = e.encoded() + [0x0A]
            if size + Int64(bytes.count + line.count) > maxBytes { break }
            bytes.append(contentsOf: line)
            accepted += 1
        }
        let refusedNow = events.count - accepted
        if refusedNow > 0 {
            refused += refusedNow
            let now = Monotonic.nanoseconds()
            if now - lastFullWarning > 10_000_000_000 || lastFullWarning == 0 {
                lastFullWarning = now
                logger.critical(
                    "SPOOL FULL: the sink has been unreachable long enough to fill the spool; reading the log is paused until it takes events again (the oldest events are kept; if the log rotates away meanwhile, its unread lines are lost)",
                    metadata: ["spool.max_bytes": .int(Int(maxBytes)), "spool.refused_total": .int(refused)])
            }
        }
        guard !bytes.isEmpty else { return refusedNow }
        try bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                }
                off += n
            }
        }
        guard fsync(fd) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        size += Int64(bytes.count)
        return refusedNow
    }

    /// Up to `max` events from the replay position, in order, and the offset after them.
    func peek(max: Int) -> ([EventEnvelope], Int64) {
        guard !isEmpty else { return ([], replayOffset) }
        let want = Int(min(pendingBytes, 4 << 20))
        var buf = [UInt8](repeating: 0, count: want)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(replayOffset)) }
        guard n > 0 else { return ([], replayOffset) }
        var events: [EventEnvelope] = []
        var start = 0
        var end = replayOffset
        for i in 0..<n where buf[i] == 0x0A {
            let line = Array(buf[start..<i])
            start = i + 1
            end = replayOffset + Int64(start)
            if let e = try? EventEnvelope.decode(line) {
                events.append(e)
            } else {
                logger.error("skipping an unreadable spool line", metadata: ["spool.offset": .int(Int(end))])
            }
            if events.count >= max { break }
        }
        return (events, end)
    }

    /// Marks everything before `offset` as delivered; empties the file once all is delivered.
    func commit(upTo offset: Int64) throws {
        replayOffset = offset
        if replayOffset >= size {
            guard ftruncate(fd, 0) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            fsync(fd)
            size = 0
            replayOffset = 0
        }
        try AtomicFile.write(Array(String(replayOffset).utf8), to: offsetPath)
    }

    private func trimTornTail() {
        guard size > 0 else { return }
        var last: UInt8 = 0
        _ = pread(fd, &last, 1, off_t(size - 1))
        guard last != 0x0A else { return }
        var pos = size - 1
        var c: UInt8 = 0
        while pos > 0 {
            _ = pread(fd, &c, 1, off_t(pos - 1))
            if c == 0x0A { break }
            pos -= 1
        }
        if ftruncate(fd, off_t(pos)) == 0 {
            logger.warning("dropped a torn, never-acknowledged line at the end of the spool")
            size = pos
            replayOffset = min(replayOffset, size)
        }
    }
}

/// Writes small files atomically: a temporary file, fsync, rename. (The folder is not fsynced: after a power
/// loss the previous version may come back, which for cursors and replay offsets means events sent again
/// with the same ids — dropped downstream — never events lost.)
enum AtomicFile {
    static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var ok = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress, raw.count) == raw.count }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
