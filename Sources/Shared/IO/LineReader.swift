import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads newline-terminated lines from a file descriptor with one buffer and no per-line syscalls.
///
/// Blocking: use it from command-line tools or a dedicated thread, not the cooperative pool.
public final class LineReader {
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var start = 0
    private var end = 0
    private var eof = false

    /// Reads from an already-open descriptor (e.g. 0 for standard input).
    public init(fd: Int32) {
        self.fd = fd
        ownsFD = false
    }

    /// Opens `path` for reading; `nil` (with `errno` set) when it cannot be opened.
    public init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.fd = fd
        ownsFD = true
    }

    deinit {
        if ownsFD { close(fd) }
    }

    /// The next line without its `\n` (a final line without one is returned too); `nil` at end of input.
    public func nextLine() -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<nl]
                start = nl + 1
                return line
            }
            if eof {
                guard start < end else { return nil }
                let line = buffer[start..<end]
                start = end
                return line
            }
            fill()
        }
    }

    private func fill() {
        if start > 0 {
            // Move the partial line to the front.
            let n = end - start
            if n > 0 { buffer.withUnsafeMutableBytes { raw in _ = memmove(raw.baseAddress!, raw.baseAddress! + start, n) } }
            start = 0
            end = n
        }
        if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + end, raw.count - end) }
        if n > 0 {
            end += n
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            eof = true
        }
    }
}
