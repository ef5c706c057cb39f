import Foundation
import Shared

/// `skald queue`: look at and feed the embedded events queue.
enum QueueCommand {
    static var spec: CommandSpec {
        CommandSpec(
            name: "queue", summary: "inspect the embedded events queue, its poison queue, or send events",
            usage: "queue stats | poisoned [--limit N] [--json] | send [FILE] | requeue ID",
            details: """
                stats      message counts: ready, delayed, in flight, poisoned
                poisoned   the newest poisoned messages with the reason each was poisoned
                send       send event envelopes, one JSON object per line, from FILE or standard input;
                           prints "enqueued ID" or "duplicate ID" once each is committed
                requeue    move a poisoned message (by the id 'poisoned' shows) back onto the queue
                """,
            options: [
                OptionSpec(name: "limit", valueName: "N", help: "how many poisoned messages to show (default 20)"),
                OptionSpec(name: "json", valueName: nil, help: "print JSON"),
            ], positionals: 1...2, run: run)
    }

    static func run(_ args: ParsedArguments) async throws -> ExitCode {
        let storage = try Setup.config { r in StorageSettings.load(from: &r) }
        let queue = try APICommand.openQueue(storage)
        let verb = args.positionals[0]
        switch verb {
        case "stats":
            let s = try await queue.stats()
            if args.has("json") {
                Console.out(String(decoding: try JSONCoding.encoder.encode(s), as: UTF8.self))
            } else {
                Console.out("ready \(s.ready)  delayed \(s.delayed)  in flight \(s.inFlight)  poisoned \(s.poisoned)")
            }
            return .ok
        case "poisoned":
            guard let limit = Int(args.value("limit") ?? "20"), limit > 0 else {
                throw CLIError.usage("--limit must be a positive number", command: spec)
            }
            let items = try await queue.poisoned(limit: limit)
            if args.has("json") {
                Console.out(String(decoding: try JSONCoding.encoder.encode(items), as: UTF8.self))
            } else if items.isEmpty {
                Console.out("the poison queue is empty")
            } else {
                for p in items {
                    Console.out("#\(p.id) \(Timestamp.format(p.poisonedAt)) event \(p.eventID) after \(p.dequeueCount) deliveries")
                    Console.out("    reason: \(p.reason)")
                }
            }
            return .ok
        case "send":
            return try await send(queue: queue, file: args.positionals.count > 1 ? args.positionals[1] : nil)
        case "requeue":
            guard args.positionals.count == 2 else { throw CLIError.usage("requeue needs the poisoned message's id", command: spec) }
            guard try await queue.requeuePoisoned(id: args.positionals[1]) else {
                throw CLIError.failure("no poisoned message #\(args.positionals[1])")
            }
            Console.out("requeued #\(args.positionals[1])")
            return .ok
        default:
            throw CLIError.usage("unknown queue action '\(verb)'", command: spec)
        }
    }

    /// Sends one envelope per line; each is acknowledged on stdout only after its transaction committed.
    static func send(queue: SQLiteEventQueue, file: String?) async throws -> ExitCode {
        let reader: LineReader
        if let file, file != "-" {
            guard let r = LineReader(path: file) else { throw CLIError.failure("cannot read \(file)") }
            reader = r
        } else {
            reader = LineReader(fd: 0)
        }
        var invalid = 0
        var lineNumber = 0
        while let line = reader.nextLine() {
            lineNumber += 1
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { continue }
            do {
                let envelope = try EventEnvelope.decode(Array(text.utf8))
                let outcome = try await queue.send(envelope)
                Console.out("\(outcome.rawValue) \(envelope.id)")
            } catch let e as EnvelopeError {
                invalid += 1
                Console.err("line \(lineNumber): \(e)")
            }
        }
        return invalid == 0 ? .ok : .failure
    }
}
