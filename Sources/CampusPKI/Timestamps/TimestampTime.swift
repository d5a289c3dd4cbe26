import Foundation
import SwiftASN1

/// `genTime` as CampusPKI writes it: UTC, to the millisecond, with no trailing zeros in the fraction (RFC 3161
/// section 2.4.2), and read back with whatever fraction another TSA wrote.
enum TimestampTime {
    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// `date` cut to whole milliseconds.
    static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// The GeneralizedTime of `date`, cut to whole milliseconds.
    ///
    /// - Throws: When the year is outside 1–9999.
    static func generalizedTime(_ date: Date) throws -> GeneralizedTime {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let wholeSeconds = Int64((Double(totalMilliseconds) / 1000).rounded(.down))
        let millisecond = Int(totalMilliseconds - wholeSeconds * 1000)
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: Double(wholeSeconds)))
        var digits = Array(String(format: "%03d", millisecond).utf8)
        while digits.last == UInt8(ascii: "0") { digits.removeLast() }
        return try GeneralizedTime(
            year: parts.year!, month: parts.month!, day: parts.day!, hours: parts.hour!, minutes: parts.minute!,
            seconds: parts.second!, rawFractionalSeconds: digits[...])
    }

    /// The moment a GeneralizedTime names, with its fraction of a second.
    static func date(_ time: GeneralizedTime) -> Date {
        let parts = DateComponents(
            year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes,
            second: time.seconds)
        let whole = (calendar.date(from: parts) ?? .distantPast).timeIntervalSince1970
        let digits = time.rawFractionalSeconds
        guard digits.count <= 3 else { return Date(timeIntervalSince1970: whole + time.fractionalSeconds) }
        // Whole milliseconds are computed as ``milliseconds(_:)`` computes them, so that equal times compare equal.
        let padded = Array(digits) + [UInt8](repeating: UInt8(ascii: "0"), count: 3 - digits.count)
        let milliseconds = padded.reduce(0) { $0 * 10 + Double($1 - UInt8(ascii: "0")) }
        return Date(timeIntervalSince1970: (whole * 1000 + milliseconds) / 1000)
    }

    /// `2026-11-28T01:02:03.5Z`: ISO 8601 UTC with the fraction GeneralizedTime had.
    static func format(_ time: GeneralizedTime) -> String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(time.year)
        let fraction =
            time.rawFractionalSeconds.isEmpty
            ? "" : "." + String(decoding: time.rawFractionalSeconds, as: UTF8.self)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year
            + "-\(two(time.month))-\(two(time.day))T\(two(time.hours)):\(two(time.minutes)):\(two(time.seconds))"
            + fraction + "Z"
    }

    /// `date` as ``format(_:)`` writes it, to the millisecond.
    static func format(_ date: Date) -> String {
        (try? generalizedTime(date)).map { format($0) } ?? "\(date)"
    }
}
