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

/// A length of time on the command line: a whole number and a unit, `90s`, `15m`, `12h` or `7d`, or a bare whole
/// number of seconds (`3600`).
///
/// Nothing else is read: no fractions, signs, exponents, `inf` or `nan`, and no zero, so what help shows is exactly
/// what the parser takes. Each option checks its own range with ``check(_:option:within:)``.
public struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    /// The length in seconds.
    public var seconds: Double
    public let description: String

    /// What help says of the form, once for every option that takes a duration.
    public static let form = "a whole number with a unit s, m, h or d (90s, 15m, 12h, 7d), or seconds alone"

    /// The units and their lengths in seconds.
    static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]

    public init?(argument: String) {
        var digits = Substring(argument)
        var scale = 1.0
        if let unit = digits.last, let length = Self.units[unit] {
            digits = digits.dropLast()
            scale = length
        }
        // At most 9 digits: 999,999,999 days still fits a Double exactly, and no one means more.
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits), value > 0
        else { return nil }
        seconds = Double(value) * scale
        description = argument
    }

    /// Refuses a duration outside `range`, naming the option and the range in its units.
    public static func check(_ duration: DurationArgument, option: String, within range: ClosedRange<Double>) throws {
        guard range.contains(duration.seconds) else {
            throw ValidationError(
                "\(option) \(duration) is out of range: from \(words(range.lowerBound)) to \(words(range.upperBound))")
        }
    }

    /// `60` as `1m`, `604800` as `7d`: the largest unit that divides it.
    public static func words(_ seconds: Double) -> String {
        let whole = Int(seconds)
        for (unit, length) in [("d", 86_400), ("h", 3600), ("m", 60)] where whole % length == 0 {
            return "\(whole / length)\(unit)"
        }
        return "\(whole)s"
    }

    public static var defaultCompletionKind: CompletionKind { .default }
}
