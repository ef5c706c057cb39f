import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes from the contract.
enum ExitCode: Int32 {
    case ok = 0
    case failure = 1
    case usage = 64
    case config = 78
}

/// A command-line failure carrying its exit code and message.
struct CLIError: Error {
    var code: ExitCode
    var message: String

    static func usage(_ message: String, command: CommandSpec?) -> CLIError {
        let hint = command.map { "run 'skald \($0.name) --help' for usage" } ?? "run 'skald --help' for usage"
        return CLIError(code: .usage, message: "\(message)\n\(hint)")
    }

    static func config(_ error: ConfigError) -> CLIError {
        CLIError(code: .config, message: error.description)
    }

    static func failure(_ message: String) -> CLIError { CLIError(code: .failure, message: message) }
}

/// An option a command accepts.
struct OptionSpec {
    var name: String
    var valueName: String?
    var help: String
}

/// A subcommand: name, summary, usage and options.
struct CommandSpec {
    var name: String
    var summary: String
    var usage: String
    var details: String
    var options: [OptionSpec]
    var positionals: ClosedRange<Int> = 0...0
    var hidden = false
    var run: (ParsedArguments) async throws -> ExitCode

    var helpText: String {
        var s = "Usage: skald \(usage)\n\n\(summary)\n"
        if !details.isEmpty { s += "\n\(details)\n" }
        let all = options + [OptionSpec(name: "help", valueName: nil, help: "show this help")]
        s += "\nOptions:\n"
        for o in all {
            let left = "  --\(o.name)" + (o.valueName.map { " \($0)" } ?? "")
            s += left.padding(toLength: max(left.count + 2, 26), withPad: " ", startingAt: 0) + o.help + "\n"
        }
        return s
    }
}

/// Parsed `--name value` options and positional arguments.
struct ParsedArguments {
    var options: [String: String] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []

    func value(_ name: String) -> String? { options[name] }
    func has(_ name: String) -> Bool { flags.contains(name) || options[name] != nil }
}

enum ArgumentParser {
    /// Parses `args` (after the command name) against `spec`.
    static func parse(_ args: [String], spec: CommandSpec) throws(CLIError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            if !onlyPositionals, a == "--" {
                onlyPositionals = true
            } else if !onlyPositionals, a.hasPrefix("--") {
                var name = String(a.dropFirst(2))
                var inlineValue: String?
                if let eq = name.firstIndex(of: "=") {
                    inlineValue = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let opt = spec.options.first(where: { $0.name == name }) else {
                    throw .usage("unknown option --\(name) for 'skald \(spec.name)'", command: spec)
                }
                if opt.valueName != nil {
                    if let v = inlineValue {
                        parsed.options[name] = v
                    } else {
                        guard i + 1 < args.count else {
                            throw .usage("--\(name) needs a value (\(opt.valueName!))", command: spec)
                        }
                        i += 1
                        parsed.options[name] = args[i]
                    }
                } else {
                    guard inlineValue == nil else { throw .usage("--\(name) takes no value", command: spec) }
                    parsed.flags.insert(name)
                }
            } else if !onlyPositionals, a.hasPrefix("-"), a != "-" {
                throw .usage("unknown option \(a) for 'skald \(spec.name)'", command: spec)
            } else {
                parsed.positionals.append(a)
            }
            i += 1
        }
        guard spec.positionals.contains(parsed.positionals.count) else {
            if parsed.positionals.count > spec.positionals.upperBound {
                throw .usage("unexpected argument '\(parsed.positionals[spec.positionals.upperBound])'", command: spec)
            }
            throw .usage("missing argument", command: spec)
        }
        return parsed
    }
}

/// Output helpers (stdout for results, stderr for diagnostics).
enum Console {
    static func out(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    static func err(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

/// Shared set-up for commands: configuration loading and the process logger.
enum Setup {
    /// Loads a configuration with `load`, turning problems into exit code 78.
    static func config<T>(_ load: (inout ConfigReader) -> T?) throws(CLIError) -> T {
        var reader = ConfigReader()
        let value = load(&reader)
        do {
            try reader.finish()
        } catch {
            throw .config(error)
        }
        guard let value else { throw .config(ConfigError(problems: [])) }
        return value
    }

    /// The process logger: JSON lines on stderr.
    static func logger(_ label: String, level: Logger.Level) -> Logger {
        Logger(label: label, level: level, handler: JSONLogHandler())
    }
}
