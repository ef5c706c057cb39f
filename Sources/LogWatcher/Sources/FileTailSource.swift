import CLinux
import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// Follows a log file the way `tail -F` does, and more carefully.
///
/// - Waits for a file that does not exist yet.
/// - Rotation by rename: the old file is read to its end (its last partial line included), then the new file
///   from its start. If the process was down across a rotation, the rotated file is found by its identity
///   among its siblings and finished first.
/// - Rotation by truncation (copytruncate): starts again from the start, as a new generation of the file, so
///   line ids (`<dev-inode>.t<N>:<offset>`) never repeat — also when the truncation happened while the watcher
///   was stopped (the file is shorter than the saved offset, or its first bytes changed).
/// - A partial last line waits for its newline.
/// - Wakes on inotify events (falls back to polling), so a new line is seen within milliseconds.
public final class FileTailSource: LogSource {
    private let path: String
    private let maxLine: Int
    private let logger: Logger
    private var fd: Int32 = -1
    private var identity = ""
    private var baseIdentity = ""
    private var truncations = 0
    private var head: String?
    private var readOffset: Int64 = 0
    private var splitter: LineSplitter
    private var ready: [SourceLine] = []
    /// Where the source is after each ready line (its file may differ from the current one after a rotation).
    private var readyEnd: [SourcePosition] = []
    private var handedOut: SourcePosition?
    private var inotifyFD: Int32 = -1
    private var resumeFrom: SourcePosition?
    private var lastGrowth = Monotonic.nanoseconds()
    private var lastRotationCheck: UInt64 = 0
    /// How long to let writes accumulate after a change is seen.
    private let coalesceMicroseconds: UInt32 = 50_000
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)

    /// Follows `path`, resuming after `position` when it names this file (or a rotated predecessor).
    public init(path: String, resumeFrom position: SourcePosition?, maxLine: Int = 64 * 1024, logger: Logger) {
        self.path = path
        self.maxLine = maxLine
        self.logger = logger
        self.resumeFrom = position
        splitter = LineSplitter(maxLine: maxLine, startOffset: 0)
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if inotifyFD >= 0 {
            let dir = (path as NSString).deletingLastPathComponent
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB)
            if inotify_add_watch(inotifyFD, dir.isEmpty ? "." : dir, mask) < 0 {
                Glibc.close(inotifyFD)
                inotifyFD = -1
            }
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// `file:<path>`.
    public var description: String { "file:\(path)" }

    /// The file identity and the offset after the last line handed out.
    public var position: SourcePosition { handedOut ?? resumeFrom ?? .none }

    /// Closes the file and the inotify descriptor.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        if inotifyFD >= 0 { Glibc.close(inotifyFD) }
        inotifyFD = -1
    }

    /// Up to `max` complete lines, waiting up to `wait` seconds for one.
    public func readLines(max: Int, wait: Double) -> [SourceLine] {
        let deadline = Monotonic.nanoseconds() + UInt64(wait * 1e9)
        while true {
            if ready.isEmpty { pump() }
            if !ready.isEmpty {
                let n = min(max, ready.count)
                let out = Array(ready.prefix(n))
                handedOut = readyEnd[n - 1]
                ready.removeFirst(n)
                readyEnd.removeFirst(n)
                return out
            }
            let now = Monotonic.nanoseconds()
            guard now < deadline else { return [] }
            sleepForChange(until: deadline)
        }
    }

    // MARK: reading

    /// Reads what is there, handles rotation and truncation, and queues complete lines.
    private func pump() {
        if fd < 0, !openFile() { return }
        let before = ready.count
        readAvailable()
        if ready.count > before { return }
        // Nothing new: has the file been rotated or truncated? (Checked at most every 100 ms: this path runs
        // after every wake-up, and a rotation is rare.)
        let now = Monotonic.nanoseconds()
        guard now - lastRotationCheck >= 100_000_000 else { return }
        lastRotationCheck = now
        var st = stat()
        let exists = stat(path, &st) == 0
        let currentIdentity = exists ? Self.identity(st) : ""
        if !exists || currentIdentity != baseIdentity {
            // Renamed away (or deleted). Give the writer a moment to finish its last write, then finish the
            // old file (its partial last line included) and move to the new one.
            if now - lastGrowth < 300_000_000 { return }
            readAvailable()
            flushPartial()
            logger.info("log file rotated", metadata: ["file": .string(path)])
            Glibc.close(fd)
            fd = -1
            if exists { _ = openFile(fresh: true) }
            return
        }
        var own = stat()
        let shorter = fstat(fd, &own) == 0 && Int64(own.st_size) < readOffset
        // Truncated and written again to the same length or more: the first bytes tell.
        let rewritten = !shorter && head != nil && Self.fingerprint(fd, length: Self.headLength(head)) != head
        if shorter || rewritten {
            logger.info("log file truncated; reading it again from its start", metadata: ["file": .string(path)])
            startNewGeneration(truncations: truncations + 1)
            readAvailable()
        }
    }

    /// Reads the (same) file again from its start as a new generation, so its line ids do not repeat.
    private func startNewGeneration(truncations n: Int) {
        _ = lseek(fd, 0, SEEK_SET)
        truncations = n
        identity = Self.generationIdentity(baseIdentity, n)
        head = nil
        readOffset = 0
        splitter.reset(to: 0)
    }

    private func readAvailable() {
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                lastGrowth = Monotonic.nanoseconds()
                readOffset += Int64(n)
                if Self.headLength(head) < Self.headBytes { head = Self.fingerprint(fd, length: min(readOffset, Self.headBytes)) }
                splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { bytes, start, end in
                    ready.append(SourceLine(bytes: bytes, key: "\(identity):\(start)"))
                    readyEnd.append(.file(identity: identity, offset: end, head: head))
                }
                // A short read of a regular file means its end for now: no second read to learn that.
                if ready.count >= 4096 || n < buffer.count { return }
            } else {
                return
            }
        }
    }

    private func flushPartial() {
        splitter.flushPartial { bytes, start, end in
            ready.append(SourceLine(bytes: bytes, key: "\(identity):\(start)"))
            readyEnd.append(.file(identity: identity, offset: end, head: head))
        }
    }

    /// Opens the file; `fresh` means a new file after a rotation (read from its start).
    private func openFile(fresh: Bool = false) -> Bool {
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return false }
        var st = stat()
        fstat(f, &st)
        let base = Self.identity(st)
        fd = f
        baseIdentity = base
        lastGrowth = Monotonic.nanoseconds()
        if !fresh, case .file(let savedID, let savedOffset, let savedHead) = resumeFrom {
            let (savedBase, savedGeneration) = Self.split(savedID)
            if savedBase == base {
                resumeFrom = nil
                let size = Int64(st.st_size)
                let headLength = Self.headLength(savedHead)
                let rewritten = savedHead != nil && size >= headLength && Self.fingerprint(f, length: headLength) != savedHead
                if savedOffset > size || rewritten {
                    logger.warning("the log file was truncated while the watcher was stopped; reading it from its start")
                    startNewGeneration(truncations: savedGeneration + 1)
                } else {
                    resume(generation: savedGeneration, identity: savedID, head: savedHead, offset: savedOffset)
                }
                return true
            }
            if let rotated = findRotated(identity: savedBase) {
                // Rotated while we were stopped: finish the old file from the saved offset first.
                Glibc.close(f)
                fd = rotated
                baseIdentity = savedBase
                resumeFrom = nil
                resume(generation: savedGeneration, identity: savedID, head: savedHead, offset: savedOffset)
                logger.info("finishing a log file rotated while the watcher was stopped", metadata: ["file": .string(path)])
                return true
            }
            logger.warning("the saved log position names a file that is gone; reading the current file from its start")
        }
        resumeFrom = nil
        truncations = 0
        identity = base
        head = nil
        readOffset = 0
        splitter.reset(to: 0)
        return true
    }

    /// Continues the open file at a saved position.
    private func resume(generation: Int, identity saved: String, head savedHead: String?, offset: Int64) {
        truncations = generation
        identity = saved
        head = savedHead
        readOffset = offset
        _ = lseek(fd, off_t(offset), SEEK_SET)
        splitter.reset(to: offset)
    }

    /// Looks for a sibling of the log file (`valheim.log.1`, …) with the saved identity.
    private func findRotated(identity saved: String) -> Int32? {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return nil }
        for name in names where name != base && name.hasPrefix(base) {
            let candidate = ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(name)
            var st = stat()
            guard stat(candidate, &st) == 0, Self.identity(st) == saved else { continue }
            let f = open(candidate, O_RDONLY | O_CLOEXEC)
            if f >= 0 { return f }
        }
        return nil
    }

    static let headBytes: Int64 = 64

    /// `<length>:<hash>` of the file's first `length` bytes (up to 64).
    static func fingerprint(_ fd: Int32, length: Int64) -> String? {
        guard length > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        guard pread(fd, &bytes, bytes.count, 0) == bytes.count else { return nil }
        return "\(length):" + Hex.encode(Array(Digest.sha256(bytes).prefix(8)))
    }

    /// The length a fingerprint covers (0 without one).
    static func headLength(_ head: String?) -> Int64 {
        guard let head, let colon = head.firstIndex(of: ":") else { return 0 }
        return Int64(head[..<colon]) ?? 0
    }

    static func generationIdentity(_ base: String, _ n: Int) -> String { n == 0 ? base : "\(base).t\(n)" }

    /// `dev-ino.tN` → (`dev-ino`, N).
    static func split(_ identity: String) -> (String, Int) {
        guard let dot = identity.lastIndex(of: "."), identity[identity.index(after: dot)...].hasPrefix("t"),
            let n = Int(identity[identity.index(dot, offsetBy: 2)...])
        else { return (identity, 0) }
        return (String(identity[..<dot]), n)
    }

    /// Waits for a change to the log file (or until `deadline`). The folder watch also reports other files
    /// in the folder (the watcher's own cursor and queue may live there): only events naming the log file
    /// end the wait.
    private func sleepForChange(until deadline: UInt64) {
        guard inotifyFD >= 0 else {
            let ms = Int32(max(1, min(100, (deadline - min(deadline, Monotonic.nanoseconds())) / 1_000_000)))
            usleep(useconds_t(ms) * 1000)
            return
        }
        let base = Array((path as NSString).lastPathComponent.utf8)
        var drain = [UInt8](repeating: 0, count: 8192)
        while true {
            let now = Monotonic.nanoseconds()
            guard now < deadline else { return }
            let ms = Int32(max(1, min(250, (deadline - now) / 1_000_000)))
            var pfd = pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, ms) > 0 else { return }
            var relevant = false
            while true {
                let n = read(inotifyFD, &drain, drain.count)
                guard n > 0 else { break }
                var off = 0
                // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
                while off + 16 <= n {
                    let len = Int(drain[off + 12]) | Int(drain[off + 13]) << 8 | Int(drain[off + 14]) << 16 | Int(drain[off + 15]) << 24
                    let nameStart = off + 16
                    let nameEnd = min(n, nameStart + len)
                    let name = drain[nameStart..<nameEnd].prefix { $0 != 0 }
                    if len == 0 || name.elementsEqual(base) { relevant = true }
                    off = nameStart + len
                }
                // A partly filled buffer means the queue is empty: no second read to learn that.
                if n < drain.count - 272 { break }
            }
            if relevant {
                // Let a burst of writes land before reading: a logger writing line by line then costs one
                // wake-up per burst instead of one per line (at most `coalesce` of added latency).
                usleep(useconds_t(coalesceMicroseconds))
                return
            }
        }
    }

    static func identity(_ st: stat) -> String { "\(String(st.st_dev, radix: 16))-\(String(st.st_ino, radix: 16))" }
}
