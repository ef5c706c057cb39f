import Foundation
import LogWatcher
import Shared

/// `skald classify`: run the stream classifier over a log and print its events.
enum ClassifyCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "classify", summary: "print the events a log yields, one JSON object per line", usage: "classify [FILE]",
            details: """
                Reads FILE (standard input when absent or '-') in order with the same stream classifier the
                watcher runs, and prints {"event", "line", "time", "player", "platformID", "code"} per event.
                """, options: [], positionals: 0...1, run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let reader: LineReader
        if let path = args.positionals.first, path != "-" {
            guard let r = LineReader(path: path) else {
                throw CLIError.failure("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            reader = r
        } else {
            reader = LineReader(fd: 0)
        }
        var classifier = StreamClassifier<Valheim>()
        var events: [ClassifiedEvent] = []
        var out = [UInt8]()
        while let line = reader.nextLine() {
            events.removeAll(keepingCapacity: true)
            line.withUnsafeBufferPointer { classifier.classify($0, into: &events) }
            for e in events {
                var w = JSONLineWriter()
                w.field("event", e.event)
                w.field("line", e.line)
                if let t = e.time { w.field("time", Timestamp.format(t)) }
                if let p = e.player { w.field("player", p) }
                if let id = e.platformID { w.field("platformID", id) }
                if let c = e.code { w.field("code", c) }
                out.append(contentsOf: w.finish())
                out.append(0x0A)
            }
            if out.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { FileHandle.standardOutput.write(Data(out)) }
        return .ok
    }
}
