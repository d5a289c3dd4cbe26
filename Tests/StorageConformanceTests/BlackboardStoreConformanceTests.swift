import CampusAdmin
import CampusBlackboard
import CampusPKI
import Foundation
import Testing

/// Every engine of Blackboard's store does the same: each primitive, and what several Blackboard instances on one
/// database race on (report numbers, a student's limits checked in the commit).
@Suite(.serialized) struct BlackboardStoreConformanceTests {
    static let sid = StudentID("1155123456")!
    static let report = Assignment(name: Assignment.defaultName, deadline: nil)

    /// A batch of `sequences` for session `session` of `studentID`; completing the report when `completes`.
    static func batch(
        _ studentID: StudentID = sid, session: UInt8, sequences: ClosedRange<UInt64>, storedSession: Int64? = nil,
        completes: Bool, assignment: Assignment = report, limits: StorageLimits = StorageLimits()
    ) -> SessionBatch {
        let sessionID = Array(repeating: session, count: 16)
        let messages = sequences.map { sequence in
            StoredMessage(
                sequence: sequence, content: Array("part \(sequence) of \(studentID)".utf8), mac: [UInt8(sequence)],
                receivedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(sequence)))
        }
        let summary = ReportSummary(
            sessionID: sessionID, studentID: studentID, certificateSerial: "0a", messageCount: sequences.upperBound,
            totalBytes: 100, digest: Array(repeating: session, count: 32), completedAt: Date(),
            file: try? SubmittedFile(name: "report.pdf", contentType: "application/pdf"))
        return SessionBatch(
            session: SessionRecord(
                sessionID: sessionID, studentID: studentID, certificateSerial: "0a", peer: "198.51.100.1:5000",
                startedAt: Date(timeIntervalSince1970: 1_800_000_000), assignment: assignment),
            storedSession: storedSession, messages: messages, report: completes ? summary : nil,
            signReceipt: completes ? sign : nil,
            limits: limits)
    }

    /// Stands in for the receipt's signature: it says what the store fixed in the transaction.
    static let sign: SessionBatch.ReceiptSigner = { summary in
        Array("receipt \(summary.id) \(summary.assignment) late=\(summary.isLate)".utf8)
    }

    /// The handshake's one read gives what `assignments()` and `usage(of:in:)` give, and refuses as
    /// `Assignment.resolve` does.
    @Test(arguments: Backend.all)
    func theHandshakesReadAgreesWithAssignmentsAndUsage(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(1) { stores in
            let store = stores[0]
            let now = Date()
            let complete = try await store.commit(Self.batch(session: 1, sequences: 1...2, completes: true))
            #expect(complete.report != nil)
            _ = try await store.commit(Self.batch(session: 2, sequences: 1...1, completes: false))
            _ = try await store.commit(
                Self.batch(StudentID("1155000001")!, session: 3, sequences: 1...3, completes: true))
            try await store.addAssignment(Assignment(name: "essay", deadline: nil))

            for name in [Assignment.defaultName, "essay"] {
                let (assignment, usage) = try await store.sessionContext(for: Self.sid, requesting: name, at: now)
                #expect(assignment == (try Assignment.resolve(name, among: try await store.assignments(), now: now)))
                #expect(usage == (try await store.usage(of: Self.sid, in: name)))
            }
            let (_, usage) = try await store.sessionContext(
                for: Self.sid, requesting: Assignment.defaultName, at: now)
            let stored = ["part 1 of \(Self.sid)", "part 2 of \(Self.sid)", "part 1 of \(Self.sid)"]
            #expect(usage == StudentUsage(reportsInAssignment: 1, storedBytes: Int64(stored.joined().utf8.count)))
            let (_, nothing) = try await store.sessionContext(
                for: StudentID("1155000002")!, requesting: "essay", at: now)
            #expect(nothing == StudentUsage(reportsInAssignment: 0, storedBytes: 0))

            func refusal(_ name: String) async -> CampusError.Code? {
                do {
                    _ = try await store.sessionContext(for: Self.sid, requesting: name, at: now)
                    return nil
                } catch {
                    return (error as? CampusError)?.code
                }
            }
            #expect(await refusal("") == .assignmentRequired)
            #expect(await refusal("lab") == .unknownAssignment)
            #expect(try await store.closeAssignment(named: "essay"))
            #expect(await refusal("essay") == .assignmentClosed)
            let (only, _) = try await store.sessionContext(for: Self.sid, requesting: "", at: now)
            #expect(only.name == Assignment.defaultName)
        }
    }

    @Test(arguments: Backend.all)
    func aSessionInBatchesBecomesANumberedReportWithItsReceipt(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let first = try await stores[0].commit(Self.batch(session: 1, sequences: 1...2, completes: false))
            #expect(first.report == nil)
            let second = try await stores[1].commit(
                Self.batch(session: 1, sequences: 3...4, storedSession: first.session, completes: true))
            #expect(second.session == first.session)
            let report = try #require(second.report)
            #expect(report.id >= 1)
            #expect(report.receipt == Array("receipt \(report.id) report late=false".utf8))
            #expect(report.completedAt.timeIntervalSince1970 == report.completedAt.timeIntervalSince1970.rounded())
            #expect(report.assignment == Assignment.defaultName && !report.isLate && report.deadline == nil)

            let listed = try await stores[0].reports(for: Self.sid)
            #expect(listed == [report])
            #expect(try await stores[0].reports(for: StudentID("1155000001")!).isEmpty)
            let (stored, messages) = try #require(try await stores[0].report(report.id))
            #expect(stored == report)
            #expect(stored.file?.name == "report.pdf" && stored.file?.contentType == "application/pdf")
            #expect(messages.map(\.sequence) == [1, 2, 3, 4])
            #expect(messages.first?.content == Array("part 1 of \(Self.sid)".utf8))
            #expect(messages.first?.mac == [1])
            #expect(messages.first?.receivedAt == Date(timeIntervalSince1970: 1_800_000_001))
            #expect(try await stores[0].report(report.id + 1000) == nil)

            // A session that breaks keeps what was acknowledged, and is listed with the others.
            let broken = try await stores[1].commit(Self.batch(session: 2, sequences: 1...1, completes: false))
            try await stores[1].failSession(broken.session, reason: "the connection was reset")
            let sessions = try await stores[0].messages(for: Self.sid)
            #expect(sessions.map { $0.map(\.sequence) } == [[1, 2, 3, 4], [1]])
            #expect(try await stores[0].reports(for: nil).count == 1)
        }
    }

    @Test(arguments: Backend.all)
    func aMessageStoredTwiceIsRefusedAndNothingOfItsBatchIsKept(_ backend: Backend) async throws {
        try await backend.withBlackboardStores { stores in
            let first = try await stores[0].commit(Self.batch(session: 3, sequences: 1...2, completes: false))
            await #expect(throws: (any Error).self) {
                try await stores[0].commit(
                    Self.batch(session: 3, sequences: 2...3, storedSession: first.session, completes: true))
            }
            #expect(try await stores[0].messages(for: Self.sid).map { $0.map(\.sequence) } == [[1, 2]])
            #expect(try await stores[0].reports(for: nil).isEmpty)
        }
    }

    /// Twelve students complete their reports through each of two stores at once: 24 reports, 24 numbers.
    @Test(arguments: Backend.shared)
    func reportNumbersAreUniqueAcrossStoresCommittingAtOnce(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let numbers = await concurrently(24) { index in
                let student = StudentID(String(1_155_000_100 + index))!
                let stored = try? await stores[index % 2].commit(
                    Self.batch(student, session: UInt8(index + 10), sequences: 1...3, completes: true))
                return stored?.report?.id
            }
            let assigned = numbers.compactMap { $0 }
            #expect(assigned.count == 24, "\(numbers)")
            #expect(Set(assigned).count == 24, "\(assigned.sorted())")
            let listed = try await stores[1].reports(for: nil)
            #expect(listed.count == 24)
            #expect(Set(listed.map(\.id)) == Set(assigned))
            #expect(listed.allSatisfy { $0.receipt == Array("receipt \($0.id) report late=false".utf8) })
            // Numbers go on increasing after the race.
            let next = try await stores[0].commit(Self.batch(session: 99, sequences: 1...1, completes: true))
            #expect(try #require(next.report?.id) > assigned.max() ?? 0)
        }
    }

    /// A student with room for one more report completes two at once, through two stores: one is counted.
    @Test(arguments: Backend.shared)
    func aStudentsLimitHoldsAcrossStoresCommittingAtOnce(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let limits = StorageLimits(reportsPerAssignment: 1)
            let outcomes = await concurrently(4) { index in
                do {
                    _ = try await stores[index % 2].commit(
                        Self.batch(session: UInt8(40 + index), sequences: 1...2, completes: true, limits: limits))
                    return "stored"
                } catch let error as CampusError {
                    return error.code == .reportLimitReached ? "refused" : "\(error)"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcomes.sorted() == ["refused", "refused", "refused", "stored"], "\(outcomes)")
            #expect(try await stores[0].reports(for: Self.sid).count == 1)
            let usage = try await stores[1].usage(of: Self.sid, in: Assignment.defaultName)
            #expect(usage.reportsInAssignment == 1)
            #expect(usage.storedBytes == Int64(Array("part 1 of \(Self.sid)part 2 of \(Self.sid)".utf8).count))
        }
    }

    @Test(arguments: Backend.all)
    func aStudentsBytesAreLimitedInTheCommit(_ backend: Backend) async throws {
        try await backend.withBlackboardStores { stores in
            let one = Int64(Array("part 1 of \(Self.sid)".utf8).count)
            let limits = StorageLimits(studentBytes: one * 3)
            _ = try await stores[0].commit(Self.batch(session: 5, sequences: 1...2, completes: false, limits: limits))
            await #expect {
                try await stores[0].commit(Self.batch(session: 6, sequences: 1...2, completes: true, limits: limits))
            } throws: { error in
                (error as? CampusError)?.code == .storageQuotaExceeded
            }
            #expect(try await stores[0].usage(of: Self.sid, in: Assignment.defaultName).storedBytes == 2 * one)
            let small = StorageLimits(reportBytes: one)
            await #expect {
                try await stores[0].commit(Self.batch(session: 7, sequences: 1...2, completes: false, limits: small))
            } throws: { error in
                (error as? CampusError)?.code == .reportTooLarge
            }
        }
    }

    @Test(arguments: Backend.all)
    func assignmentsAreAddedClosedAndDecideLateness(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            #expect(try await stores[0].assignments().map(\.name) == [Assignment.defaultName])
            let past = Date(timeIntervalSince1970: 1_600_000_000)
            let lab = Assignment(name: "lab1", deadline: past, late: .accept)
            let strict = Assignment(name: "lab2", deadline: past, late: .refuse)
            try await stores[0].addAssignment(lab)
            try await stores[0].addAssignment(strict)
            await #expect {
                try await stores[1].addAssignment(Assignment(name: "lab1", deadline: nil))
            } throws: { error in
                (error as? CampusError)?.code == .malformedRequest
            }
            #expect(try await stores[1].assignments() == [Self.report, lab, strict])

            let late = try await stores[1].commit(
                Self.batch(session: 8, sequences: 1...1, completes: true, assignment: lab))
            let report = try #require(late.report)
            #expect(report.isLate && report.deadline == past && report.assignment == "lab1")
            #expect(report.receipt == Array("receipt \(report.id) lab1 late=true".utf8))
            await #expect {
                try await stores[1].commit(
                    Self.batch(session: 9, sequences: 1...1, completes: true, assignment: strict))
            } throws: { error in
                (error as? CampusError)?.code == .deadlinePassed
            }
            #expect(try await stores[0].usage(of: Self.sid, in: "lab2").reportsInAssignment == 0)
            #expect(try await stores[0].usage(of: Self.sid, in: "lab1").reportsInAssignment == 1)

            // Closed through one store, the other's next commit into it is refused.
            let open = try await stores[0].commit(Self.batch(session: 10, sequences: 1...1, completes: false))
            #expect(try await stores[0].closeAssignment(named: Assignment.defaultName))
            #expect(try await !stores[1].closeAssignment(named: Assignment.defaultName))
            #expect(try await !stores[1].closeAssignment(named: "nothing"))
            await #expect {
                try await stores[1].commit(
                    Self.batch(session: 10, sequences: 2...2, storedSession: open.session, completes: true))
            } throws: { error in
                (error as? CampusError)?.code == .assignmentClosed
            }
            #expect(try await stores[0].assignments().first?.isOpen == false)
            #expect(try await stores[0].reports(for: nil).map(\.assignment) == ["lab1"])
        }
    }

    @Test(arguments: Backend.all)
    func learnedRevocationsAreKeptOnce(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let first = LearnedRevocation(
                serial: "0a", revokedAt: Date(timeIntervalSince1970: 1_800_000_000), reasonCode: 1,
                learnedAt: Date(timeIntervalSince1970: 1_800_000_010))
            let second = LearnedRevocation(
                serial: "0b", revokedAt: Date(timeIntervalSince1970: 1_800_000_001), reasonCode: nil,
                learnedAt: Date(timeIntervalSince1970: 1_800_000_020))
            try await stores[0].recordRevocations([first])
            var again = first
            again.learnedAt = Date(timeIntervalSince1970: 1_800_000_030)
            try await stores[1].recordRevocations([again, second])
            #expect(try await stores[0].revocations() == [first, second])
        }
    }

    @Test(arguments: Backend.all)
    func theRosterTheWriteProbeAndWebSessions(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            #expect(try await stores[0].roster().isEmpty)
            let other = StudentID("1155000001")!
            #expect(
                try await stores[0].importRoster([
                    RosterEntry(studentID: Self.sid, name: "Chan"), RosterEntry(studentID: other, name: "Ada"),
                ]) == 2)
            #expect(
                try await stores[1].importRoster([
                    RosterEntry(studentID: Self.sid, name: "Chan Tai Man", email: "chan@example.com")
                ]) == 2)
            // Blackboard keeps SIDs and names, in SID order.
            let roster = try await stores[0].roster()
            #expect(roster.map(\.studentID) == [other, Self.sid])
            #expect(roster.map(\.name) == ["Ada", "Chan Tai Man"])
            try await stores[0].probeWrite()
            try await stores[1].probeWrite()
            #expect(!stores[1].location.isEmpty)
            try await adminSessionsAreShared(stores[1], stores[0])
        }
    }
}

extension BlackboardStoreConformanceTests {
    /// A session cut off keeps what was acknowledged as an incomplete attempt, whichever store lists it; a completed
    /// session is not one, and one without messages is not listed.
    @Test(arguments: Backend.all)
    func sessionsCutOffAreListedAsIncompleteAttempts(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let other = StudentID("1155000001")!
            let cut = try await stores[0].commit(Self.batch(session: 20, sequences: 1...2, completes: false))
            try await stores[0].failSession(cut.session, reason: "the connection was reset")
            let open = try await stores[1].commit(Self.batch(other, session: 21, sequences: 1...1, completes: false))
            let complete = try await stores[1].commit(Self.batch(session: 22, sequences: 1...1, completes: true))
            let attempts = try await stores[1].incompleteAttempts(for: nil)
            #expect(attempts.map(\.session) == [cut.session, open.session])
            let first = try #require(attempts.first)
            #expect(first.studentID == Self.sid && first.certificateSerial == "0a")
            #expect(first.assignment == Assignment.defaultName && first.messageCount == 2)
            #expect(first.storedBytes == Int64(Array("part 1 of \(Self.sid)part 2 of \(Self.sid)".utf8).count))
            #expect(first.status == .failed("the connection was reset"))
            #expect(attempts.last?.status == .open)
            #expect(try await stores[0].incompleteAttempts(for: other).map(\.session) == [open.session])
            // A failure recorded after the report is complete does not make it an attempt.
            try await stores[0].failSession(complete.session, reason: "closed after the receipt")
            #expect(try await stores[0].incompleteAttempts(for: Self.sid).map(\.session) == [cut.session])
            #expect(try await stores[0].reports(for: Self.sid).map(\.messageCount) == [1])
            #expect(try await stores[0].usage(of: Self.sid, in: Assignment.defaultName).reportsInAssignment == 1)
        }
    }
}
