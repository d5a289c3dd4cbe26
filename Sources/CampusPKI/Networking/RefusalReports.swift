import NIOCore

/// When refusals are logged: the first of a burst at once, then at most one line every ``interval``, each with the
/// number refused since the line before, so that a client reconnecting as fast as it is refused cannot fill the log.
///
/// A value kept under its owner's lock.
public struct RefusalReports: Sendable {
    /// A burst of refusals is logged once, then at most this often.
    public static let interval = TimeAmount.seconds(10)

    private var refusedSinceReport = 0
    private var lastReport: NIODeadline?

    public init() {}

    /// Counts a refusal made at `now`.
    ///
    /// - Returns: When a line is due, the number of refusals it reports (this one included); otherwise `nil`.
    public mutating func refused(at now: NIODeadline) -> Int? {
        refusedSinceReport += 1
        if let lastReport, now - lastReport < Self.interval { return nil }
        lastReport = now
        defer { refusedSinceReport = 0 }
        return refusedSinceReport
    }
}
