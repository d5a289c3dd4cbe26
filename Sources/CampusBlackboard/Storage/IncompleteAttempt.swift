import CampusPKI
import Foundation

/// A session whose messages are stored but which completed no report: cut off (a connection lost, an instance
/// stopped), refused before its end, or still under way. It is not a report: it has no number and no receipt, and it
/// does not count towards `--max-reports-per-assignment`; its bytes, which are stored, count towards
/// `--max-stored-bytes`. The instructor sees it as an incomplete attempt.
public struct IncompleteAttempt: Sendable, Hashable {
    /// How the session stands.
    public enum Status: Sendable, Hashable {
        /// No end was recorded: under way, or cut off when Blackboard itself stopped.
        case open
        /// Blackboard ended it, for the reason given (the connection lost, a refusal).
        case failed(String)
    }

    /// The store's number for the session (not a report number).
    public var session: Int64
    public var studentID: StudentID
    public var certificateSerial: String
    public var assignment: String
    public var startedAt: Date
    /// Messages stored, each acknowledged to the student.
    public var messageCount: Int
    /// Bytes of message content stored.
    public var storedBytes: Int64
    public var status: Status

    public init(
        session: Int64, studentID: StudentID, certificateSerial: String, assignment: String, startedAt: Date,
        messageCount: Int, storedBytes: Int64, status: Status
    ) {
        self.session = session
        self.studentID = studentID
        self.certificateSerial = certificateSerial
        self.assignment = assignment
        self.startedAt = startedAt
        self.messageCount = messageCount
        self.storedBytes = storedBytes
        self.status = status
    }

    /// `open (no end of report)`, or `ended: REASON`.
    public var statusText: String {
        switch status {
        case .open: "no end of report"
        case .failed(let reason): "ended: \(reason)"
        }
    }
}
