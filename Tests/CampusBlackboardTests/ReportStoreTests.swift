import CampusBlackboard
import CampusPKI
import Foundation
import Testing

@Suite struct ReportStoreTests {
    static func stores() throws -> [any ReportStore] {
        var template = Array((NSTemporaryDirectory() + "campuspki-store-XXXXXX").utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        return [InMemoryReportStore(), try SQLiteReportStore(path: directory + "/blackboard.db")]
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
        let id = try #require(last.report)
        let (summary, messages) = try #require(try await store.report(id))
        #expect(summary.studentID == sid && summary.messageCount == 2 && summary.digest == [7])
        #expect(messages.map(\.content) == [[1], [2]])
        #expect(try await store.reports(for: sid).map(\.id) == [id])
        #expect(try await store.reports(for: StudentID("1155000000")!).isEmpty)
        #expect(try await store.report(id + 100) == nil)
    }
}
