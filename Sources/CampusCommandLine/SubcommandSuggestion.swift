import ArgumentParser
import CampusPKI
import Foundation

/// Catches a mistyped subcommand before ArgumentParser reads it as an argument of the default subcommand.
///
/// The programs' default subcommands take no positional arguments, so a first argument that is not an option and
/// not a subcommand is always a mistake: `cuhk isued` gets "did you mean 'issued'?" instead of "unexpected
/// argument".
public enum SubcommandSuggestion {
    /// Exits with a usage error (64) when `arguments` start with an unknown word.
    ///
    /// - Parameters:
    ///   - command: The program.
    ///   - arguments: The arguments without the program name.
    public static func check(_ command: any ParsableCommand.Type, arguments: [String]) {
        guard let first = arguments.first, !first.hasPrefix("-") else { return }
        let names =
            command.configuration.subcommands.flatMap { subcommand in
                [subcommand._commandName] + subcommand.configuration.aliases
            } + ["help"]
        guard !names.contains(first) else { return }
        let name = command._commandName
        let closest = names.min { distance(first, $0) < distance(first, $1) }
        var message = "\(name): unknown command '\(first)'."
        if let closest, distance(first, closest) <= max(2, closest.count / 3) {
            message += " Did you mean '\(closest)'?"
        }
        message += " Commands: \(names.filter { $0 != "help" }.joined(separator: ", ")); see '\(name) --help'."
        Terminal.error(message)
        exit(64)
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
