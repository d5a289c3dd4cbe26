import CampusBlackboard
import CampusPKI
import Crypto
import Foundation
import Testing

/// The store operations behind CUHK's timestamps and the deadline manifests, for every engine: report numbers
/// reserved before the commit (unique across stores), the status decided by CUHK's time, and manifests kept once.
@Suite(.serialized) struct TimestampStoreConformanceTests {
    static let sid = StudentID("1155123456")!

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

    @Test(arguments: Backend.all)
    func reservedNumbersAreNeverGivenTwice(_ backend: Backend) async throws {
        try await backend.withBlackboardStores { stores in
            let store = stores[0]
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
    }

    /// CUHK's time decides: a token made before the deadline is on time even when the commit comes after it, and one
    /// made after it is late even when Blackboard's clock says otherwise; the commit time is the token's, in whole
    /// seconds.
    @Test(arguments: Backend.all)
    func cuhksTimeDecidesTheStatus(_ backend: Backend) async throws {
        try await backend.withBlackboardStores { stores in
            let store = stores[0]
            let deadline = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)).addingTimeInterval(
                -60)
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
    }

    @Test(arguments: Backend.all)
    func theFirstManifestOfAKindIsKept(_ backend: Backend) async throws {
        try await backend.withBlackboardStores { stores in
            let store = stores[0]
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
    }

    /// Reservations through two stores at once never give a number twice, and a number reserved through one store
    /// is committed through the other.
    @Test(arguments: Backend.shared)
    func numbersReservedThroughTwoStoresAreUnique(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let numbers = await concurrently(16) { index in try? await stores[index % 2].reserveReportNumber() }
            let reserved = numbers.compactMap { $0 }
            #expect(reserved.count == 16 && Set(reserved).count == 16, "\(numbers)")
            let assignment = Assignment(name: Assignment.defaultName, deadline: nil)
            let number = try await stores[0].reserveReportNumber()
            let report = try #require(
                try await Self.submit(to: stores[1], assignment: assignment, session: 1, number: number))
            #expect(report.id == number)
            let unreserved = try #require(try await Self.submit(to: stores[0], assignment: assignment, session: 2))
            #expect(!Set(reserved + [number]).contains(unreserved.id))
            #expect(unreserved.id > number)
        }
    }

    /// Two instances making the same manifest at once: one is kept, the other is told so.
    @Test(arguments: Backend.shared)
    func aManifestMadeByTwoStoresAtOnceIsKeptOnce(_ backend: Backend) async throws {
        try await backend.withBlackboardStores(2) { stores in
            let manifests = try (0..<4).map { index in
                StoredManifest(
                    assignment: "a1", kind: .onTime,
                    bundle: try ManifestBundle(
                        leaves: [.init(report: 1, data: Array(SHA256.hash(data: [UInt8(index)])))],
                        signedManifest: [UInt8(index)]),
                    timestampedAt: Date(timeIntervalSince1970: 1_800_000_000), recordedAt: Date())
            }
            let outcomes = await concurrently(4) { index in
                (try? await stores[index % 2].recordManifest(manifests[index])) ?? false
            }
            #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
            #expect(try await stores[1].manifests(of: "a1").count == 1)
        }
    }
}
