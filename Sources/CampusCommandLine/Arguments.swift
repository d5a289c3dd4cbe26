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
