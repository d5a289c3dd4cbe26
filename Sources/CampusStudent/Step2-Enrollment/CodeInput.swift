import CampusPKI
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the Student reads its one-time enrollment code from: never the command line, where every local user could
/// read it from the process list.
///
/// * `--code-file FILE`: the file's first line;
/// * `--code-file -`: the next line of standard input, right after the student ID's line when the ID is read from
///   there too, and before the report's messages;
/// * otherwise, at a terminal, a prompt that does not echo what is typed.
///
/// A code is checked for its form (20 Crockford base32 characters, see ``EnrollmentCode``) before anything is
/// sent, so a mistyped one never reaches CUHK.
public enum CodeInput {
    /// `--code-file -`.
    public static let standardInput = "-"

    /// The code in `file` (its first line), or the next line of standard input for `-`.
    ///
    /// - Throws: ``StudentError/local(_:)`` when the file cannot be read, or its line is not a code.
    public static func read(file: String) throws -> EnrollmentCode {
        let line: String
        if file == standardInput {
            guard let next = readLine(strippingNewline: true) else {
                throw StudentError.local("no enrollment code on standard input (--code-file -): the input ended")
            }
            line = next
        } else {
            let text: String?
            do {
                text = try SecureFile.readText(at: file, limit: 4096)
            } catch {
                throw StudentError.local("cannot read the enrollment code from \(file): \(error)")
            }
            guard let text else { throw StudentError.local("--code-file \(file) does not exist") }
            line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        return try check(line, from: file == standardInput ? "standard input" : file)
    }

    /// `text` as a code.
    ///
    /// - Throws: ``StudentError/local(_:)`` saying what a code looks like and what was wrong, without repeating the
    ///   text (it may be most of a real code).
    public static func check(_ text: String, from source: String) throws -> EnrollmentCode {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let code = EnrollmentCode(trimmed) else {
            throw StudentError.local("the enrollment code from \(source) is not a code: \(problem(trimmed))")
        }
        return code
    }

    /// What is wrong with a text that is not a code.
    public static func problem(_ text: String) -> String {
        let characters = text.uppercased().filter { $0 != "-" && $0 != " " }
        let foreign = characters.filter { !(EnrollmentCode.alphabet + ["I", "L", "O"]).contains($0) }
        let what =
            foreign.isEmpty
            ? "it has \(Count.of(characters.count, "character")) (dashes and spaces aside)"
            : "it has characters that are not in a code"
        return "\(what); a code is \(EnrollmentCode.length) letters and digits, as on your slip "
            + "(for example 7K3Q-M9XA-2C4R-TV8H-N5PW; case, dashes and spaces do not matter)"
    }

    /// Asks at the terminal, without echoing what is typed, until the answer is a code or empty.
    ///
    /// - Returns: The code; `nil` when the person pressed Enter alone, or standard input is not a terminal.
    public static func prompt(_ text: String = "Enter your enrollment code (press Enter if you have none): ")
        -> EnrollmentCode?
    {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        while true {
            guard let answer = readHidden(prompt: text) else { return nil }
            let trimmed = answer.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { return nil }
            if let code = EnrollmentCode(trimmed) { return code }
            Terminal.line("Not an enrollment code: \(problem(trimmed)).")
        }
    }

    /// One line from the terminal with echo off, restored afterwards. Echo goes off before the prompt is shown, so
    /// nothing typed after the prompt appears.
    static func readHidden(prompt: String) -> String? {
        var saved = termios()
        let canHide = tcgetattr(STDIN_FILENO, &saved) == 0
        if canHide {
            var hidden = saved
            hidden.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(STDIN_FILENO, TCSANOW, &hidden)
        }
        Terminal.prompt(prompt)
        defer {
            if canHide {
                _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved)
                // The Enter that ended the line was not echoed either.
                Terminal.line("")
            }
        }
        return readLine(strippingNewline: true)
    }
}
