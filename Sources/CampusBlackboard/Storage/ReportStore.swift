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

    /// Complete reports in the order of their numbers; only `studentID`'s when given.
    func reports(for studentID: StudentID?) async throws -> [ReportSummary]

    /// Sessions with stored messages that completed no report, oldest first; only `studentID`'s when given. What
    /// they stored stays, and they are never numbered or counted as reports.
    func incompleteAttempts(for studentID: StudentID?) async throws -> [IncompleteAttempt]

    /// One report with its messages in order.
    func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])?

    /// Every assignment, open or closed, in the order they were added.
    func assignments() async throws -> [Assignment]

    /// Adds an assignment.
    ///
    /// - Throws: ``CampusError`` `malformed-request` when one of that name exists.
    func addAssignment(_ assignment: Assignment) async throws

    /// Closes an assignment: it takes no more submissions, also from sessions open now; what it has is kept.
    ///
    /// - Returns: Whether an open assignment of that name was closed.
    func closeAssignment(named name: String) async throws -> Bool

    /// What a student has stored: reports in `assignment`, and bytes of message content in every session.
    func usage(of studentID: StudentID, in assignment: String) async throws -> StudentUsage

    /// What a handshake reads: the assignment a request names (resolved as ``Assignment/resolve(_:among:now:)``
    /// does) and the student's usage in it. A store may read both in one transaction; the default reads
    /// ``assignments()`` and then ``usage(of:in:)``.
    ///
    /// - Throws: ``CampusError`` from ``Assignment/resolve(_:among:now:)``, or the store's error.
    func sessionContext(for studentID: StudentID, requesting name: String, at now: Date) async throws
        -> (Assignment, StudentUsage)

    /// Records revocations learned from CUHK's revocation list, durably; one already recorded is kept as it was.
    func recordRevocations(_ revocations: [LearnedRevocation]) async throws

    /// Every revocation learned, oldest first.
    func revocations() async throws -> [LearnedRevocation]

    /// Reserves the next report number, durably, so that a report's number is known before it is committed (its
    /// CUHK timestamp names it). A number reserved is never given again, whether or not a report gets it: numbers
    /// may have gaps.
    func reserveReportNumber() async throws -> Int64

    /// Keeps a signed deadline manifest.
    ///
    /// - Returns: `false` when one of that assignment and kind is kept already; the first one made stays.
    func recordManifest(_ manifest: StoredManifest) async throws -> Bool

    /// The deadline manifests kept, of `assignment` or of all assignments, in the order they were recorded.
    func manifests(of assignment: String?) async throws -> [StoredManifest]
}

extension ReportStore {
    public func sessionContext(for studentID: StudentID, requesting name: String, at now: Date) async throws
        -> (Assignment, StudentUsage)
    {
        let assignment = try Assignment.resolve(name, among: try await assignments(), now: now)
        return (assignment, try await usage(of: studentID, in: assignment.name))
    }
}

/// A deadline manifest as Blackboard keeps and publishes it.
public struct StoredManifest: Sendable, Hashable {
    public var assignment: String
    public var kind: ManifestDocument.Kind
    /// The leaves with their report numbers, and the signed manifest.
    public var bundle: ManifestBundle
    /// The `genTime` of CUHK's timestamp over its signature.
    public var timestampedAt: Date
    /// When Blackboard recorded it.
    public var recordedAt: Date

    public init(
        assignment: String, kind: ManifestDocument.Kind, bundle: ManifestBundle, timestampedAt: Date, recordedAt: Date
    ) {
        self.assignment = assignment
        self.kind = kind
        self.bundle = bundle
        self.timestampedAt = timestampedAt
        self.recordedAt = recordedAt
    }
}

/// CUHK's timestamp of a report, obtained before its receipt is signed.
public enum ReportTimestamp: Sendable, Hashable {
    /// CUHK's token (DER) over the report's ``TimestampedReport``, and its `genTime`: the time that decides.
    case cuhk(token: [UInt8], generationTime: Date)
    /// No token: CUHK could not be reached (`--timestamps soft`) or was not asked (`off`); Blackboard's clock decides
    /// and the receipt says `timestamp: none`.
    case withoutTimestamp
}

/// What one commit stores for a session.
public struct SessionBatch: Sendable {
    /// The numbers the store gave.
    public struct Stored: Sendable, Hashable {
        public var session: Int64
        /// The report as stored: its number, commit time, status and signed receipt.
        public var report: ReportSummary?

        public init(session: Int64, report: ReportSummary?) {
            self.session = session
            self.report = report
        }
    }

    /// Signs the receipt of a report once the store has numbered it and fixed its commit time and status; runs
    /// inside the transaction, so a report is never stored without its receipt.
    public typealias ReceiptSigner = @Sendable (ReportSummary) throws -> [UInt8]

    public var session: SessionRecord
    /// The session's number when an earlier batch stored it; `nil` for the first batch.
    public var storedSession: Int64?
    public var messages: [StoredMessage]
    /// Set when the batch completes the report.
    public var report: ReportSummary?
    /// Set with ``report``.
    public var signReceipt: ReceiptSigner?
    /// What the student may store; checked in the commit's transaction.
    public var limits: StorageLimits
    /// With ``report``: CUHK's timestamp of it, whose `genTime` is the commit time; `nil` for a receipt of the form
    /// before timestamps (Blackboard's clock, no timestamp line).
    public var timestamp: ReportTimestamp?

    public init(
        session: SessionRecord, storedSession: Int64?, messages: [StoredMessage], report: ReportSummary?,
        signReceipt: ReceiptSigner? = nil, limits: StorageLimits = StorageLimits(), timestamp: ReportTimestamp? = nil
    ) {
        self.session = session
        self.storedSession = storedSession
        self.messages = messages
        self.report = report
        self.signReceipt = signReceipt
        self.limits = limits
        self.timestamp = timestamp
    }

    /// Bytes of message content in this batch.
    public var contentBytes: Int64 { Int64(messages.reduce(0) { $0 + $1.content.count }) }

    /// The number reserved for the report with ``ReportStore/reserveReportNumber()`` (the report's `id` when it is
    /// not 0); `nil` lets the store number it in the commit.
    public var reservedNumber: Int64? { report.flatMap { $0.id > 0 ? $0.id : nil } }
}

/// A session that passed the handshake.
public struct SessionRecord: Sendable, Hashable {
    public var sessionID: [UInt8]
    public var studentID: StudentID
    public var certificateSerial: String
    public var peer: String
    public var startedAt: Date
    /// The assignment as resolved at the handshake. Whether it is still open, its deadline and its late policy are
    /// read again when each batch is committed.
    public var assignment: Assignment

    public init(
        sessionID: [UInt8], studentID: StudentID, certificateSerial: String, peer: String, startedAt: Date,
        assignment: Assignment = Assignment(name: Assignment.defaultName, deadline: nil)
    ) {
        self.sessionID = sessionID
        self.studentID = studentID
        self.certificateSerial = certificateSerial
        self.peer = peer
        self.startedAt = startedAt
        self.assignment = assignment
    }
}

/// One verified message.
public struct StoredMessage: Sendable, Hashable {
    public var sequence: UInt64
    public var content: [UInt8]
    /// The AEAD tag the message travelled with (the seed's HMAC), kept as verification data.
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
    /// When the commit that recorded the report happened (set by the store, whole seconds).
    public var completedAt: Date
    public var assignment: String
    public var deadline: Date?
    /// Committed after the deadline: by CUHK's timestamp when there is one, else by Blackboard's clock.
    public var isLate: Bool
    /// The `genTime` of CUHK's timestamp of the report (to the millisecond); `nil` when it has none.
    public var timestampedAt: Date?
    /// The signed receipt (CMS, DER), exactly as sent.
    public var receipt: [UInt8]
    /// The name and content type of the file the report came from, as the student sent them (checked on receipt).
    public var file: SubmittedFile?

    public init(
        id: Int64 = 0,
        sessionID: [UInt8],
        studentID: StudentID,
        certificateSerial: String,
        messageCount: UInt64,
        totalBytes: UInt64,
        digest: [UInt8],
        completedAt: Date,
        assignment: String = Assignment.defaultName,
        deadline: Date? = nil,
        isLate: Bool = false,
        receipt: [UInt8] = [],
        file: SubmittedFile? = nil,
        timestampedAt: Date? = nil
    ) {
        self.timestampedAt = timestampedAt
        self.file = file
        self.assignment = assignment
        self.deadline = deadline
        self.isLate = isLate
        self.receipt = receipt
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

extension SessionBatch {
    /// Codes a store's commit may refuse a batch with, which reach the student as they are (any other failure is
    /// `storage-failed`).
    public static let refusalCodes: Set<CampusError.Code> = [
        .assignmentClosed, .deadlinePassed, .reportTooLarge, .storageQuotaExceeded, .reportLimitReached,
    ]

    /// Checks the batch against ``limits``, with what is stored before it, read in the commit's transaction: the
    /// session's bytes so far, the student's bytes in every session, and the student's reports in the assignment.
    ///
    /// - Throws: ``CampusError`` `report-too-large`, `storage-quota-exceeded` or `report-limit-reached`; the
    ///   transaction then stores nothing of this batch.
    public func checkLimits(sessionBytes: Int64, studentBytes: Int64, reportsInAssignment: Int) throws {
        try limits.checkAdding(contentBytes, toReportOf: sessionBytes, storedBytes: studentBytes)
        if report != nil { try limits.checkReportCount(reportsInAssignment, assignment: session.assignment.name) }
    }

    /// Checks the batch against the session's assignment as it is now, `current` (`nil` when there is none of that
    /// name): an assignment closed since the handshake takes nothing more. Stores call it inside the transaction
    /// that stores the batch, with the row read in that transaction.
    ///
    /// - Throws: ``CampusError`` `assignment-closed`; the transaction then stores nothing of this batch.
    public func checkAssignment(_ current: Assignment?) throws {
        guard let current, current.isOpen else {
            throw CampusError(
                .assignmentClosed,
                "the assignment \(session.assignment.name) was closed during this session; "
                    + (report == nil ? "nothing more is stored" : "the report is not recorded"))
        }
    }

    /// The report this batch completes, numbered `number` and committed at `time` (or, with CUHK's timestamp, at
    /// its `genTime`): on time or late by the deadline and late policy the assignment has now (`current`, read in the
    /// commit's transaction), and with its signed receipt. Stores call it inside the transaction that records the
    /// report.
    ///
    /// - Throws: ``CampusError`` `assignment-closed` when the assignment was closed since the handshake,
    ///   `deadline-passed` when the submission is late and the assignment refuses late ones; the transaction then
    ///   stores nothing of this batch.
    public func finishedReport(number: Int64, at time: Date, assignment current: Assignment?) throws -> ReportSummary? {
        guard var summary = report else { return nil }
        try checkAssignment(current)
        guard let assignment = current else { return nil }
        summary.id = number
        var time = time
        if case .cuhk(_, let generationTime) = timestamp {
            // CUHK's time decides, not Blackboard's clock (docs/PROTOCOL.md section 5.8).
            time = generationTime
            summary.timestampedAt = generationTime
        }
        summary.completedAt = Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
        summary.assignment = assignment.name
        summary.deadline = assignment.deadline
        summary.isLate = assignment.isLate(at: summary.completedAt)
        if summary.isLate, assignment.late == .refuse {
            throw CampusError(
                .deadlinePassed,
                "the report was complete at \(ReceiptDocument.timestamp(summary.completedAt)), after the deadline of "
                    + "\(assignment.name) (\(assignment.deadlineText)); late submissions are refused, so it is not "
                    + "recorded")
        }
        if let signReceipt { summary.receipt = try signReceipt(summary) }
        return summary
    }
}
