import ArgumentParser
import CampusPKI
import Foundation

/// `cuhk --help` and `blackboard --help` show the options of the default subcommand (`serve`) too: a program run
/// without a subcommand runs it, so its options are the ones people look for first.
public enum DefaultSubcommandHelp {
    /// Prints the program's help followed by its default subcommand's, and exits with 0, when `arguments` ask for
    /// the program's help and nothing else (`--help`, `-h` or `help`).
    ///
    /// - Parameters:
    ///   - command: The program.
    ///   - arguments: The arguments without the program name.
    public static func check(_ command: any ParsableCommand.Type, arguments: [String]) {
        guard arguments.count == 1, ["--help", "-h", "help"].contains(arguments[0]),
            let defaultSubcommand = command.configuration.defaultSubcommand
        else { return }
        print(text(command, defaultSubcommand: defaultSubcommand))
        exit(0)
    }

    /// The program's help, then its default subcommand's under a heading that says how the two relate.
    public static func text(_ command: any ParsableCommand.Type, defaultSubcommand: any ParsableCommand.Type)
        -> String
    {
        let name = command._commandName
        let subcommand = defaultSubcommand._commandName
        return command.helpMessage(for: command) + "\n\n"
            + "Without a subcommand, `\(name)` runs `\(name) \(subcommand)`, whose options follow "
            + "(`\(name) \(subcommand) --help` shows them too):\n\n"
            + command.helpMessage(for: defaultSubcommand)
    }
}
