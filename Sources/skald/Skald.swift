import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// The one executable: parses arguments, loads configuration, and calls into a module.
@main
struct Skald {
    static let version = "0.1.0"

    static var commands: [CommandSpec] {
        [
            UpCommand.spec,
            APICommand.spec,
            WorkerCommand.spec,
            WatchCommand.spec,
            StateCommand.spec,
            OperatorCommand.spec(.start),
            OperatorCommand.spec(.stop),
            OperatorCommand.spec(.status),
            RegisterCommand.spec,
            QueueCommand.spec,
            FunctionsCommand.spec,
            ClassifyCommand.spec,
        ]
    }

    static var usage: String {
        var s = """
            skald \(version): a Discord-driven game server that costs money only while people play.

            Usage: skald <command> [options]

            Commands:

            """
        for c in commands where !c.hidden {
            s += "  " + c.name.padding(toLength: 12, withPad: " ", startingAt: 0) + c.summary + "\n"
        }
        s += """

            Run 'skald <command> --help' for a command's options. Configuration comes from the environment
            (see the README). Exit codes: 0 ok, 1 failure, 64 bad usage, 78 bad or missing configuration.
            """
        return s
    }

    static func main() async {
        let code = await run(Array(CommandLine.arguments.dropFirst()))
        fflush(nil)
        exit(code.rawValue)
    }

    static func run(_ args: [String]) async -> ExitCode {
        guard let first = args.first else {
            Console.err(usage)
            return .usage
        }
        if first == "--help" || first == "-h" || first == "help" {
            if first == "help", args.count > 1, let spec = commands.first(where: { $0.name == args[1] }) {
                Console.out(spec.helpText)
            } else {
                Console.out(usage)
            }
            return .ok
        }
        if first == "--version" {
            Console.out("skald \(version)")
            return .ok
        }
        guard let spec = commands.first(where: { $0.name == first }) else {
            Console.err("skald: unknown command '\(first)'\nrun 'skald --help' for the list of commands")
            return .usage
        }
        let rest = Array(args.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            Console.out(spec.helpText)
            return .ok
        }
        do {
            let parsed = try ArgumentParser.parse(rest, spec: spec)
            return try await spec.run(parsed)
        } catch let e as CLIError {
            Console.err("skald \(spec.name): \(e.message)")
            return e.code
        } catch {
            Console.err("skald \(spec.name): \(error)")
            return .failure
        }
    }
}
