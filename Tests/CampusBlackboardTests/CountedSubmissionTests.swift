import CampusBlackboard
import CampusPKI
import Foundation
import Testing

/// The latest on-time submission counts; a late resubmission is kept but never replaces it.
@Suite struct CountedSubmissionTests {
    static func report(_ id: Int64, _ sid: StudentID, late: Bool) -> ReportSummary {
        ReportSummary(
            id: id, sessionID: [UInt8(id)], studentID: sid, certificateSerial: "ab", messageCount: 1, totalBytes: 1,
            digest: [7], completedAt: Date(), assignment: "a1", isLate: late)
    }

    @Test func aLateResubmissionDoesNotReplaceAnOnTimeOne() {
        let a = StudentID("1155000001")!
        let b = StudentID("1155000002")!
        let c = StudentID("1155000003")!
        let counted = CountedSubmission.byStudent([
            Self.report(1, a, late: false), Self.report(2, a, late: false), Self.report(3, a, late: true),
            Self.report(4, a, late: true),
            Self.report(5, b, late: true), Self.report(6, b, late: true),
            Self.report(7, c, late: false),
        ])
        #expect(counted[a]?.report.id == 2 && counted[a]?.count == 4 && counted[a]?.lateAfter == 2)
        // Without an on-time submission, the latest late one counts.
        #expect(counted[b]?.report.id == 6 && counted[b]?.report.isLate == true && counted[b]?.lateAfter == 0)
        #expect(counted[c]?.report.id == 7 && counted[c]?.count == 1)
    }
}
