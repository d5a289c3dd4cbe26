import Foundation

/// How the web interface writes times: `2025-09-01 14:05 UTC`, short enough for a phone.
enum DashboardFormat {
    static func time(_ date: Date) -> String {
        let style = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash)
            .dateTimeSeparator(.space).time(includingFractionalSeconds: false).timeSeparator(.colon)
        return String(date.formatted(style).prefix(16)) + " UTC"
    }

    /// `7 days`, `12 hours`, `30 minutes`.
    static func duration(_ seconds: TimeInterval) -> String {
        func count(_ value: Int, _ unit: String) -> String { "\(value) \(unit)\(value == 1 ? "" : "s")" }
        let whole = Int(seconds)
        if whole % 86_400 == 0 { return count(whole / 86_400, "day") }
        if whole % 3600 == 0 { return count(whole / 3600, "hour") }
        if whole % 60 == 0 { return count(whole / 60, "minute") }
        return count(whole, "second")
    }
}
