import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusTestSupport
import Crypto
import Foundation
import Testing

/// Report numbers reserved in `blackboard.db` survive a restart, and what counts as in flight before a manifest is
/// made (the cases every store passes are in StorageConformanceTests).
@Suite struct TimestampStoreTests {
    static let sid = StudentID("1155123456")!

    static func directory() throws -> String {
        try TestScratch.makeDirectory("campuspki-store")
    }

    /// Commits a one-message report in a new session of `assignment`, numbered `number` (0: by the store).
    static func submit(
        to store: any ReportStore, assignment: Assignment, session: UInt8, number: Int64 = 0,
        timestamp: ReportTimestamp? = nil
    ) async throws -> ReportSummary? {
        let record = SessionRecord(
            sessionID: Array(repeating: session, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
            startedAt: Date(), assignment: assignment)
        return try await store.commit(
            SessionBatch(
                session: record, storedSession: nil,
                messages: [StoredMessage(sequence: 1, content: [session], mac: [9], receivedAt: Date())],
                report: ReportSummary(
                    id: number, sessionID: record.sessionID, studentID: sid, certificateSerial: "ab", messageCount: 1,
                    totalBytes: 1, digest: [7], completedAt: Date()),
                signReceipt: { _ in [0x30, 0x00] }, timestamp: timestamp)
        ).report
    }

    @Test func reservationsSurviveARestartOfTheDatabase() async throws {
        let path = try Self.directory() + "/blackboard.db"
        let assignment = Assignment(name: Assignment.defaultName, deadline: nil)
        let before = try SQLiteBlackboardStore(path: path)
        _ = try await Self.submit(to: before, assignment: assignment, session: 1)
        let reserved = try await before.reserveReportNumber()
        let after = try SQLiteBlackboardStore(path: path)
        #expect(try await after.reserveReportNumber() == reserved + 1)
    }

    @Test func reportsInFlightCountWhatMayStillBeOnTime() {
        let flights = ReportsInFlight()
        let deadline = Date(timeIntervalSince1970: 1_800_000_000)
        let waiting = flights.begin(assignment: "a1")
        let before = flights.begin(assignment: "a1")
        before.record(generationTime: deadline.addingTimeInterval(0.9))
        let after = flights.begin(assignment: "a1")
        after.record(generationTime: deadline.addingTimeInterval(1))
        let other = flights.begin(assignment: "a2")
        // Without a token yet, and with one in the deadline's second: both may still be on time.
        #expect(flights.pending(assignment: "a1", onTimeFor: deadline) == 2)
        #expect(flights.pending(assignment: "a1", onTimeFor: nil) == 3)
        waiting.end()
        before.end()
        #expect(flights.pending(assignment: "a1", onTimeFor: deadline) == 0)
        after.end()
        #expect(flights.pending(assignment: "a1", onTimeFor: nil) == 0)
        #expect(flights.pending(assignment: "a2", onTimeFor: nil) == 1)
        other.end()
    }
}
