import CampusBlackboard
import CampusPKI
import Crypto
import Foundation
import Testing

/// The store operations behind CUHK's timestamps and the deadline manifests, for every backend: report numbers
/// reserved before the commit, the status decided by CUHK's time, and manifests kept once.
@Suite struct TimestampStoreTests {
    static let sid = StudentID("1155123456")!

    static func directory() -> String {
        var template = Array((NSTemporaryDirectory() + "campuspki-store-XXXXXX").utf8CString)
        return String(cString: mkdtemp(&template)!)
    }

    static func stores() throws -> [any ReportStore] {
        [InMemoryReportStore(), try SQLiteReportStore(path: directory() + "/blackboard.db")]
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

    @Test(arguments: try stores())
    func reservedNumbersAreNeverGivenTwice(_ store: any ReportStore) async throws {
        let assignment = Assignment(name: Assignment.defaultName, deadline: nil)
        let first = try await store.reserveReportNumber()
        let second = try await store.reserveReportNumber()
        #expect(second == first + 1)
        // A report without a reservation takes the next number after those reserved.
        let unreserved = try #require(try await Self.submit(to: store, assignment: assignment, session: 1))
        #expect(unreserved.id == second + 1)
        // A reserved number is the report's; the first reservation, never used, stays a gap.
        let reserved = try #require(
            try await Self.submit(to: store, assignment: assignment, session: 2, number: second))
        #expect(reserved.id == second)
        #expect(try await store.reserveReportNumber() == second + 2)
        #expect(try await store.reports(for: nil).map(\.id) == [second, second + 1])
        // The same number twice: the second commit is refused and stores nothing.
        await #expect(throws: (any Error).self) {
            _ = try await Self.submit(to: store, assignment: assignment, session: 3, number: second)
        }
        #expect(try await store.reports(for: nil).count == 2)
    }

    @Test func reservationsSurviveARestartOfTheDatabase() async throws {
        let path = Self.directory() + "/blackboard.db"
        let assignment = Assignment(name: Assignment.defaultName, deadline: nil)
        let before = try SQLiteReportStore(path: path)
        _ = try await Self.submit(to: before, assignment: assignment, session: 1)
        let reserved = try await before.reserveReportNumber()
        let after = try SQLiteReportStore(path: path)
        #expect(try await after.reserveReportNumber() == reserved + 1)
    }

    /// CUHK's time decides: a token made before the deadline is on time even when the commit comes after it, and one
    /// made after it is late even when Blackboard's clock says otherwise; the commit time is the token's, in whole
    /// seconds.
    @Test(arguments: try stores())
    func cuhksTimeDecidesTheStatus(_ store: any ReportStore) async throws {
        let deadline = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)).addingTimeInterval(-60)
        let passed = Assignment(name: "passed", deadline: deadline)
        try await store.addAssignment(passed)
        let before = deadline.addingTimeInterval(-0.25)
        let onTime = try #require(
            try await Self.submit(
                to: store, assignment: passed, session: 1, timestamp: .cuhk(token: [1], generationTime: before)))
        #expect(!onTime.isLate)
        #expect(onTime.completedAt == deadline.addingTimeInterval(-1))
        #expect(onTime.timestampedAt.map { $0.timeIntervalSince(before).magnitude < 0.001 } == true)

        let future = Assignment(name: "future", deadline: Date().addingTimeInterval(3600))
        try await store.addAssignment(future)
        let after = future.deadline!.addingTimeInterval(2)
        let late = try #require(
            try await Self.submit(
                to: store, assignment: future, session: 2, timestamp: .cuhk(token: [1], generationTime: after)))
        #expect(late.isLate)
        // Without a token, Blackboard's clock decides, as before.
        let clock = try #require(
            try await Self.submit(to: store, assignment: passed, session: 3, timestamp: .withoutTimestamp))
        #expect(clock.isLate && clock.timestampedAt == nil)

        // Refusing late submissions refuses by CUHK's time too.
        let strict = Assignment(name: "strict", deadline: Date().addingTimeInterval(3600), late: .refuse)
        try await store.addAssignment(strict)
        await #expect(throws: CampusError.self) {
            _ = try await Self.submit(
                to: store, assignment: strict, session: 4,
                timestamp: .cuhk(token: [1], generationTime: strict.deadline!.addingTimeInterval(1)))
        }
        #expect(try await store.reports(for: nil).map(\.assignment) == ["passed", "future", "passed"])
        let stored = try await store.reports(for: nil)
        #expect(stored.map { $0.timestampedAt != nil } == [true, true, false])
    }

    @Test(arguments: try stores())
    func theFirstManifestOfAKindIsKept(_ store: any ReportStore) async throws {
        func manifest(_ assignment: String, _ kind: ManifestDocument.Kind, signed: UInt8) throws -> StoredManifest {
            StoredManifest(
                assignment: assignment, kind: kind,
                bundle: try ManifestBundle(
                    leaves: [.init(report: 3, data: Array(SHA256.hash(data: [signed])))], signedManifest: [signed]),
                timestampedAt: Date(timeIntervalSince1970: 1_800_000_000.5), recordedAt: Date())
        }
        #expect(try await store.manifests(of: nil).isEmpty)
        #expect(try await store.recordManifest(try manifest("a1", .onTime, signed: 1)))
        #expect(try await store.recordManifest(try manifest("a1", .onTime, signed: 2)) == false)
        #expect(try await store.recordManifest(try manifest("a1", .late, signed: 3)))
        #expect(try await store.recordManifest(try manifest("a2", .onTime, signed: 4)))
        let a1 = try await store.manifests(of: "a1")
        #expect(a1.map(\.kind) == [.onTime, .late])
        #expect(a1.map(\.bundle.signedManifest) == [[1], [3]])
        #expect(a1[0].bundle.leaves.map(\.report) == [3])
        #expect(a1[0].timestampedAt == Date(timeIntervalSince1970: 1_800_000_000.5))
        #expect(try await store.manifests(of: nil).map(\.assignment) == ["a1", "a1", "a2"])
        #expect(try await store.manifests(of: "a3").isEmpty)
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
