import CampusPKI

/// Which of a student's submissions to one assignment counts, with the others kept beside it.
///
/// The policy: the latest submission made on time counts. Once the deadline has passed, a late resubmission is
/// kept, listed and downloadable, but it never replaces an on-time submission, so a student who submitted on time
/// cannot become late by submitting again. A student with no on-time submission is counted by the latest late one.
/// Nothing is ever deleted: the course's staff see and may grade every submission.
public struct CountedSubmission: Sendable {
    /// The submission that counts.
    public var report: ReportSummary
    /// How many submissions the student made to the assignment, this one included.
    public var count: Int
    /// Late submissions made after the one that counts, which it was not replaced by.
    public var lateAfter: Int

    /// Each student's counted submission among `reports`, which must all be for one assignment.
    public static func byStudent(_ reports: [ReportSummary]) -> [StudentID: CountedSubmission] {
        var counted: [StudentID: CountedSubmission] = [:]
        for report in reports.sorted(by: { $0.id < $1.id }) {
            guard var entry = counted[report.studentID] else {
                counted[report.studentID] = CountedSubmission(report: report, count: 1, lateAfter: 0)
                continue
            }
            entry.count += 1
            if report.isLate && !entry.report.isLate {
                // Kept and shown, but an on-time submission is not replaced by a late one.
                entry.lateAfter += 1
            } else {
                entry.report = report
                entry.lateAfter = 0
            }
            counted[report.studentID] = entry
        }
        return counted
    }
}
