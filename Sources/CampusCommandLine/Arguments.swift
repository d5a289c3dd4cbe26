import ArgumentParser
import CampusPKI
import Logging

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Checks shared by the programs' options, each worded once.
public enum ArgumentChecks {
    /// A port to listen on: 0 (any free port) to 65535.
    public static func listeningPort(_ port: Int, option: String = "--port") throws {
        guard (0...65535).contains(port) else {
            throw ValidationError("\(option) \(port) is out of range: a port is 0-65535 (0 picks a free one)")
        }
    }

    /// A student ID given on the command line.
    public static func studentID(_ text: String, option: String = "--sid") throws -> StudentID {
        guard let studentID = StudentID(text) else {
            throw ValidationError("\(option) \"\(ControlCharacters.escaped(text))\": \(StudentID.requirement)")
        }
        return studentID
    }

    /// A `HOST:PORT` address of a server.
    public static func serverAddress(_ text: String, option: String) throws -> ServerAddress {
        guard let address = ServerAddress(text) else {
            throw ValidationError(
                "\(option) \"\(ControlCharacters.escaped(text))\" is not HOST:PORT with a port of 1-65535 "
                    + "(IPv6 in brackets: [::1]:3141)")
        }
        return address
    }
}

/// A length of time on the command line: a number and a unit, `90s`, `15m`, `12h` or `7d`.
public struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    /// The length in seconds.
    public var seconds: Double
    public let description: String

    public init?(argument: String) {
        if let seconds = Double(argument), seconds > 0, seconds.isFinite {
            // A bare number is seconds.
            self.seconds = seconds
            description = argument
            return
        }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = argument.last, let scale = units[unit], let value = Double(argument.dropLast()), value > 0
        else { return nil }
        seconds = value * scale
        description = argument
    }

    public static var defaultCompletionKind: CompletionKind { .default }
}
