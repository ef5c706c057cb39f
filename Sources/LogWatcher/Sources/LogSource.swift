import Foundation
import Shared

/// Where a source is: enough to resume exactly after the last line handed out, and to name lines stably.
public enum SourcePosition: Sendable, Codable, Equatable {
    /// A file: its identity (`dev-inode`, plus `.tN` after N truncations), the byte offset after the last line
    /// handed out, and a fingerprint of its first bytes (to recognise a file truncated and rewritten while
    /// nothing was watching it).
    case file(identity: String, offset: Int64, head: String?)
    /// `docker logs`: the timestamp of the last line handed out and how many lines carried that timestamp.
    case docker(timestamp: String, count: Int)
    /// A command's output: not resumable (a restarted command starts over).
    case none
}

/// One complete line from a source.
public struct SourceLine: Sendable {
    /// The line's bytes, without its newline (capped by the source).
    public var bytes: [UInt8]
    /// A stable name for the line within its source (`<file id>:<offset>`, `<container>:<timestamp>:<n>`).
    public var key: String
}

/// A log source: lines in order, with a durable position (the `LogSource` seam of the design).
///
/// Sources are driven from one thread: `readLines` blocks for at most `wait` seconds.
public protocol LogSource: AnyObject {
    /// A short description for logs.
    var description: String { get }
    /// The position after the last line `readLines` returned.
    var position: SourcePosition { get }
    /// Returns up to `max` complete lines, waiting up to `wait` seconds when none is ready.
    func readLines(max: Int, wait: Double) -> [SourceLine]
    /// Releases descriptors and child processes.
    func close()
}

/// Splits a byte stream into lines, capping long lines and keeping a partial last line until its newline.
struct LineSplitter {
    /// Bytes kept of a line; the rest (up to the newline) is dropped.
    let maxLine: Int
    private var partial: [UInt8] = []
    private var overflowing = false
    /// Absolute stream offset of `partial`'s first byte.
    private(set) var partialStart: Int64

    init(maxLine: Int, startOffset: Int64) {
        self.maxLine = maxLine
        partialStart = startOffset
    }

    /// Offset just after the last complete line.
    var completedOffset: Int64 { partialStart }

    /// True when a partial (unterminated) line is buffered.
    var hasPartial: Bool { !partial.isEmpty || overflowing }

    /// Feeds bytes; calls `line(bytes, startOffset, endOffset)` for each complete line.
    mutating func feed(_ data: UnsafeRawBufferPointer, line: ([UInt8], Int64, Int64) -> Void) {
        var i = 0
        let n = data.count
        let base = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        while i < n {
            let rest = n - i
            if let hit = memchr(base + i, 0x0A, rest) {
                let j = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                append(UnsafeBufferPointer(start: base + i, count: j - i))
                let end = partialStart + Int64(partial.count) + Int64(droppedInLine) + 1
                line(partial, partialStart, end)
                partial.removeAll(keepingCapacity: true)
                overflowing = false
                droppedInLine = 0
                partialStart = end
                i = j + 1
            } else {
                append(UnsafeBufferPointer(start: base + i, count: rest))
                i = n
            }
        }
    }

    /// Hands out the buffered partial line as a complete line (end of a rotated file).
    mutating func flushPartial(line: ([UInt8], Int64, Int64) -> Void) {
        guard hasPartial else { return }
        let end = partialStart + Int64(partial.count) + Int64(droppedInLine)
        line(partial, partialStart, end)
        partial.removeAll(keepingCapacity: true)
        overflowing = false
        droppedInLine = 0
        partialStart = end
    }

    /// Starts over at `offset` (after a truncation or a new file).
    mutating func reset(to offset: Int64) {
        partial.removeAll(keepingCapacity: true)
        overflowing = false
        droppedInLine = 0
        partialStart = offset
    }

    private var droppedInLine = 0

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        let room = maxLine - partial.count
        if room >= bytes.count {
            partial.append(contentsOf: bytes)
        } else {
            if room > 0 { partial.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<room])) }
            droppedInLine += bytes.count - max(0, room)
            overflowing = true
        }
    }
}
