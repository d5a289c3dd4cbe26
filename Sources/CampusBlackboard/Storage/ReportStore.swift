import CampusPKI
import Foundation

/// Where Blackboard keeps sessions, messages and reports. Every write returns after a durable commit, and only
/// then is the student told.
public protocol ReportStore: Sendable {
    /// Stores one batch of a session in a single durable commit: the session's row if no earlier batch stored
    /// it, the verified messages, and the report when the batch completes it.
    ///
    /// - Returns: The session's number and, when the batch completed the report, the report's number.
    func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored

    /// Marks a session as failed, with the reason.
    func failSession(_ session: Int64, reason: String) async throws

    /// Complete reports, oldest first; only `studentID`'s when given.
    func reports(for studentID: StudentID?) async throws -> [ReportSummary]

    /// One report with its messages in order.
    func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])?
}

/// What one commit stores for a session.
public struct SessionBatch: Sendable {
    /// The numbers the store gave.
    public struct Stored: Sendable, Hashable {
        public var session: Int64
        public var report: Int64?

        public init(session: Int64, report: Int64?) {
            self.session = session
            self.report = report
        }
    }

    public var session: SessionRecord
    /// The session's number when an earlier batch stored it; `nil` for the first batch.
    public var storedSession: Int64?
    public var messages: [StoredMessage]
    /// Set when the batch completes the report.
    public var report: ReportSummary?

    public init(session: SessionRecord, storedSession: Int64?, messages: [StoredMessage], report: ReportSummary?) {
        self.session = session
        self.storedSession = storedSession
        self.messages = messages
        self.report = report
    }
}

/// A session that passed the handshake.
public struct SessionRecord: Sendable, Hashable {
    public var sessionID: [UInt8]
    public var studentID: StudentID
    public var certificateSerial: String
    public var peer: String
    public var startedAt: Date

    public init(sessionID: [UInt8], studentID: StudentID, certificateSerial: String, peer: String, startedAt: Date) {
        self.sessionID = sessionID
        self.studentID = studentID
        self.certificateSerial = certificateSerial
        self.peer = peer
        self.startedAt = startedAt
    }
}

/// One verified message.
public struct StoredMessage: Sendable, Hashable {
    public var sequence: UInt64
    public var content: [UInt8]
    /// The MAC the student sent, kept as verification data.
    public var mac: [UInt8]
    public var receivedAt: Date

    public init(sequence: UInt64, content: [UInt8], mac: [UInt8], receivedAt: Date) {
        self.sequence = sequence
        self.content = content
        self.mac = mac
        self.receivedAt = receivedAt
    }
}

/// A complete report.
public struct ReportSummary: Sendable, Hashable {
    /// Set by the store.
    public var id: Int64
    public var sessionID: [UInt8]
    public var studentID: StudentID
    public var certificateSerial: String
    public var messageCount: UInt64
    public var totalBytes: UInt64
    /// SHA-256 over the messages' contents in order.
    public var digest: [UInt8]
    public var completedAt: Date

    public init(
        id: Int64 = 0,
        sessionID: [UInt8],
        studentID: StudentID,
        certificateSerial: String,
        messageCount: UInt64,
        totalBytes: UInt64,
        digest: [UInt8],
        completedAt: Date
    ) {
        self.id = id
        self.sessionID = sessionID
        self.studentID = studentID
        self.certificateSerial = certificateSerial
        self.messageCount = messageCount
        self.totalBytes = totalBytes
        self.digest = digest
        self.completedAt = completedAt
    }
}
