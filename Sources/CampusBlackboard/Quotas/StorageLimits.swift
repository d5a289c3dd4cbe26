import CampusPKI
import Foundation

/// What one student may store: reports per assignment, bytes per report, and bytes in all (every message of every
/// session, complete or not). `blackboard serve --max-reports-per-assignment`, `--max-report-size`,
/// `--max-student-storage`.
///
/// Checked at the handshake where the answer is known already (the reports and bytes stored so far), while the
/// messages arrive (before a message that would cross a limit is stored), and again inside each commit's
/// transaction, where two sessions of one student cannot both slip under a limit.
public struct StorageLimits: Sendable, Hashable {
    /// Reports one student may have in one assignment (on time and late together).
    public var reportsPerAssignment: Int
    /// Bytes of content one report may have.
    public var reportBytes: Int64
    /// Bytes of message content one student may have stored, in every session.
    public var studentBytes: Int64

    /// 20 reports per assignment.
    public static let defaultReportsPerAssignment = 20
    /// 64 MiB.
    public static let defaultReportBytes: Int64 = 64 * 1024 * 1024
    /// 256 MiB.
    public static let defaultStudentBytes: Int64 = 256 * 1024 * 1024

    public init(
        reportsPerAssignment: Int = StorageLimits.defaultReportsPerAssignment,
        reportBytes: Int64 = StorageLimits.defaultReportBytes,
        studentBytes: Int64 = StorageLimits.defaultStudentBytes
    ) {
        self.reportsPerAssignment = reportsPerAssignment
        self.reportBytes = reportBytes
        self.studentBytes = studentBytes
    }

    /// At the handshake: whether the student may start another report for `assignment`, having stored `usage`.
    ///
    /// - Throws: ``CampusError`` `report-limit-reached` or `storage-quota-exceeded`.
    public func checkNewReport(_ usage: StudentUsage, assignment: String) throws(CampusError) {
        if usage.reportsInAssignment >= reportsPerAssignment {
            throw Self.reportLimit(reportsPerAssignment, assignment: assignment)
        }
        if usage.storedBytes >= studentBytes {
            throw Self.quotaExceeded(studentBytes, stored: usage.storedBytes)
        }
    }

    /// While receiving: whether `adding` more bytes may be stored for a report that has `reportBytes` so far, by a
    /// student who has `storedBytes` stored in all (this report's included).
    ///
    /// - Throws: ``CampusError`` `report-too-large` or `storage-quota-exceeded`.
    public func checkAdding(_ adding: Int64, toReportOf reportBytes: Int64, storedBytes: Int64) throws(CampusError) {
        if reportBytes + adding > self.reportBytes {
            throw CampusError(
                .reportTooLarge,
                "the report would exceed \(ByteCount.describe(Int(self.reportBytes))), the most one report may hold; "
                    + "nothing more of it is stored")
        }
        if storedBytes + adding > studentBytes {
            throw Self.quotaExceeded(studentBytes, stored: storedBytes)
        }
    }

    /// When a report is committed: whether the student may have one more in `assignment`, having `reports` there.
    ///
    /// - Throws: ``CampusError`` `report-limit-reached`.
    public func checkReportCount(_ reports: Int, assignment: String) throws(CampusError) {
        if reports >= reportsPerAssignment { throw Self.reportLimit(reportsPerAssignment, assignment: assignment) }
    }

    static func reportLimit(_ limit: Int, assignment: String) -> CampusError {
        CampusError(
            .reportLimitReached,
            "you have \(Count.of(limit, "report")) in \(assignment), the most one student may have; "
                + "ask the course's staff if you must submit again")
    }

    static func quotaExceeded(_ limit: Int64, stored: Int64) -> CampusError {
        CampusError(
            .storageQuotaExceeded,
            "your reports and unfinished uploads take \(ByteCount.grouped(Int(stored))) bytes of the "
                + "\(ByteCount.describe(Int(limit))) one student may store; ask the course's staff")
    }
}

/// What a student has stored, for the limits.
public struct StudentUsage: Sendable, Hashable {
    /// The student's reports in one assignment.
    public var reportsInAssignment: Int
    /// Bytes of message content the student has stored, in every session, complete or not.
    public var storedBytes: Int64

    public init(reportsInAssignment: Int, storedBytes: Int64) {
        self.reportsInAssignment = reportsInAssignment
        self.storedBytes = storedBytes
    }
}
