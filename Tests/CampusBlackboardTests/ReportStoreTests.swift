import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct ReportStoreTests {
    static func stores() throws -> [any ReportStore] {
        let directory = try TestScratch.makeDirectory("campuspki-store")
        return [InMemoryBlackboardStore(), try SQLiteBlackboardStore(path: directory + "/blackboard.db")]
    }

    @Test(arguments: try stores())
    func storesAReportWithItsMessagesInOrder(_ store: any ReportStore) async throws {
        let sid = StudentID("1155123456")!
        let record = SessionRecord(
            sessionID: Array(repeating: 1, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
            startedAt: Date()
        )
        let first = try await store.commit(
            SessionBatch(
                session: record,
                storedSession: nil,
                messages: [StoredMessage(sequence: 1, content: [1], mac: [9], receivedAt: Date())],
                report: nil
            )
        )
        #expect(first.report == nil)
        // A message stored twice is refused, and the batch that carried it stores nothing.
        await #expect(throws: (any Error).self) {
            try await store.commit(
                SessionBatch(
                    session: record, storedSession: first.session,
                    messages: [StoredMessage(sequence: 1, content: [0], mac: [9], receivedAt: Date())], report: nil
                )
            )
        }
        let last = try await store.commit(
            SessionBatch(
                session: record,
                storedSession: first.session,
                messages: [StoredMessage(sequence: 2, content: [2], mac: [9], receivedAt: Date())],
                report: ReportSummary(
                    sessionID: record.sessionID, studentID: sid, certificateSerial: "ab",
                    messageCount: 2, totalBytes: 2, digest: [7], completedAt: Date()
                )
            )
        )
        #expect(last.session == first.session)
        let id = try #require(last.report).id
        let (summary, messages) = try #require(try await store.report(id))
        #expect(summary.studentID == sid && summary.messageCount == 2 && summary.digest == [7])
        #expect(messages.map(\.content) == [[1], [2]])
        #expect(try await store.reports(for: sid).map(\.id) == [id])
        #expect(try await store.reports(for: StudentID("1155000000")!).isEmpty)
        #expect(try await store.report(id + 100) == nil)
    }

    /// A report committed after its assignment's deadline is stored marked late, or refused when the assignment
    /// refuses late submissions, and then nothing of the batch is stored.
    @Test(arguments: try stores())
    func aLateReportIsMarkedOrRefused(_ store: any ReportStore) async throws {
        let sid = StudentID("1155123456")!
        let past = Date().addingTimeInterval(-60)
        let future = Date().addingTimeInterval(3600)
        let signed = Mutex<[ReportSummary]>([])
        func submit(_ assignment: Assignment, session: UInt8) async throws -> ReportSummary? {
            try await store.addAssignment(assignment)
            let record = SessionRecord(
                sessionID: Array(repeating: session, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
                startedAt: Date(), assignment: assignment)
            let stored = try await store.commit(
                SessionBatch(
                    session: record, storedSession: nil,
                    messages: [StoredMessage(sequence: 1, content: [1], mac: [9], receivedAt: Date())],
                    report: ReportSummary(
                        sessionID: record.sessionID, studentID: sid, certificateSerial: "ab", messageCount: 1,
                        totalBytes: 1, digest: [7], completedAt: Date()),
                    signReceipt: { summary in
                        signed.withLock { $0.append(summary) }
                        return [0x30, 0x00]
                    }))
            return stored.report
        }
        let late = try #require(try await submit(Assignment(name: "a1", deadline: past, late: .accept), session: 1))
        #expect(late.isLate && late.assignment == "a1" && late.receipt == [0x30, 0x00])
        let onTime = try #require(try await submit(Assignment(name: "a2", deadline: future), session: 2))
        #expect(!onTime.isLate)
        #expect(signed.withLock { $0.map(\.isLate) } == [true, false])
        await #expect(throws: CampusError.self) {
            _ = try await submit(Assignment(name: "a3", deadline: past, late: .refuse), session: 3)
        }
        #expect(try await store.reports(for: sid).map(\.assignment) == ["a1", "a2"])
    }

    /// The assignment is read again in each commit's transaction: one closed since the handshake takes neither more
    /// messages nor the report, and a commit that is refused stores nothing of its batch.
    @Test(arguments: try stores())
    func anAssignmentClosedDuringASessionTakesNothingMore(_ store: any ReportStore) async throws {
        let sid = StudentID("1155123456")!
        let assignment = Assignment(name: "a1", deadline: nil)
        try await store.addAssignment(assignment)
        func record(_ session: UInt8) -> SessionRecord {
            SessionRecord(
                sessionID: Array(repeating: session, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
                startedAt: Date(), assignment: assignment)
        }
        func message(_ sequence: UInt64) -> StoredMessage {
            StoredMessage(sequence: sequence, content: [UInt8(sequence)], mac: [9], receivedAt: Date())
        }
        let report = ReportSummary(
            sessionID: record(1).sessionID, studentID: sid, certificateSerial: "ab", messageCount: 2, totalBytes: 2,
            digest: [7], completedAt: Date())
        let first = try await store.commit(
            SessionBatch(session: record(1), storedSession: nil, messages: [message(1)], report: nil))
        let other = try await store.commit(
            SessionBatch(session: record(2), storedSession: nil, messages: [message(1)], report: nil))
        #expect(try await store.closeAssignment(named: "a1"))
        #expect(try await store.closeAssignment(named: "a1") == false)

        func code(_ batch: SessionBatch) async -> CampusError.Code? {
            do {
                _ = try await store.commit(batch)
                return nil
            } catch {
                return (error as? CampusError)?.code
            }
        }
        #expect(
            await code(
                SessionBatch(session: record(1), storedSession: first.session, messages: [message(2)], report: report))
                == .assignmentClosed)
        #expect(
            await code(
                SessionBatch(session: record(2), storedSession: other.session, messages: [message(2)], report: nil))
                == .assignmentClosed)
        #expect(try await store.reports(for: sid).isEmpty)
    }

    /// The limits are checked in the commit's transaction, with what the student has stored in every session, so
    /// that two sessions of one student cannot both slip under them; a refused batch stores nothing.
    @Test(arguments: try stores())
    func theLimitsAreCheckedInTheCommit(_ store: any ReportStore) async throws {
        let sid = StudentID("1155123456")!
        let limits = StorageLimits(reportsPerAssignment: 1, reportBytes: 8, studentBytes: 10)
        func batch(_ session: UInt8, stored: Int64? = nil, bytes: Int, sequence: UInt64 = 1, ends: Bool = false)
            -> SessionBatch
        {
            let record = SessionRecord(
                sessionID: Array(repeating: session, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
                startedAt: Date())
            return SessionBatch(
                session: record, storedSession: stored,
                messages: [
                    StoredMessage(
                        sequence: sequence, content: [UInt8](repeating: 1, count: bytes), mac: [9], receivedAt: Date())
                ],
                report: ends
                    ? ReportSummary(
                        sessionID: record.sessionID, studentID: sid, certificateSerial: "ab", messageCount: sequence,
                        totalBytes: 0, digest: [7], completedAt: Date()) : nil,
                limits: limits)
        }
        func code(_ batch: SessionBatch) async -> CampusError.Code? {
            do {
                _ = try await store.commit(batch)
                return nil
            } catch {
                return (error as? CampusError)?.code
            }
        }
        let first = try await store.commit(batch(1, bytes: 6))
        #expect(await code(batch(1, stored: first.session, bytes: 3, sequence: 2)) == .reportTooLarge)
        #expect(await code(batch(2, bytes: 5)) == .storageQuotaExceeded)
        #expect(try await store.usage(of: sid, in: "report") == StudentUsage(reportsInAssignment: 0, storedBytes: 6))
        #expect(await code(batch(1, stored: first.session, bytes: 2, sequence: 2, ends: true)) == nil)
        #expect(await code(batch(3, bytes: 1, ends: true)) == .reportLimitReached)
        #expect(try await store.usage(of: sid, in: "report") == StudentUsage(reportsInAssignment: 1, storedBytes: 8))
    }

    @Test func resolvingAnAssignment() throws {
        let now = Date()
        let open = Assignment(name: "a1", deadline: now.addingTimeInterval(60))
        let closed = Assignment(name: "a0", deadline: nil, isOpen: false)
        let strict = Assignment(name: "a2", deadline: now.addingTimeInterval(-60), late: .refuse)
        func code(_ name: String, _ among: [Assignment]) -> CampusError.Code? {
            do {
                _ = try Assignment.resolve(name, among: among, now: now)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(try Assignment.resolve("", among: [open, closed], now: now).name == "a1")
        #expect(code("", [open, strict]) == .assignmentRequired)
        #expect(code("", [closed]) == .assignmentClosed)
        #expect(code("a0", [open, closed]) == .assignmentClosed)
        #expect(code("zz", [open]) == .unknownAssignment)
        #expect(code("a2", [open, strict]) == .deadlinePassed)
    }
}
