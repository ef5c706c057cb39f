import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writing log files the way a logger does.
public enum LogFiles {
    /// Appends `text` (open, write, close — as a logger writing line by line would).
    public static func append(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// A busy evening: for each i a join and a leave of a distinct player, so every line is an event.
    public static func joinLeaveLines(_ range: Range<Int>) -> String {
        range.map { i in
            "11/20/2026 20:00:00: Got character ZDOID from P\(i) : \(i + 1):1\n"
                + "11/20/2026 20:00:01: Destroying abandoned non persistent zdo \(i + 1):5 owner \(i + 1)\n"
        }.joined()
    }
}
