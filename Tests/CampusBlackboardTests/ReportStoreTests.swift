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
        let session = try await store.openSession(
            SessionRecord(
                sessionID: Array(repeating: 1, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
                startedAt: Date())
        )
        try await store.appendMessages(
            [1, 2].map { StoredMessage(sequence: $0, content: [UInt8($0)], mac: [9], receivedAt: Date()) },
            toSession: session
        )
        await #expect(throws: (any Error).self) {
            try await store.appendMessages(
                [StoredMessage(sequence: 2, content: [0], mac: [9], receivedAt: Date())], toSession: session)
        }
        let id = try await store.completeReport(
            ofSession: session,
            summary: ReportSummary(
                sessionID: Array(repeating: 1, count: 16), studentID: sid, certificateSerial: "ab",
                messageCount: 2, totalBytes: 2, digest: [7], completedAt: Date()
            )
        )
        let (summary, messages) = try #require(try await store.report(id))
        #expect(summary.studentID == sid && summary.messageCount == 2 && summary.digest == [7])
        #expect(messages.map(\.content) == [[1], [2]])
        #expect(try await store.reports(for: sid).map(\.id) == [id])
        #expect(try await store.reports(for: StudentID("1155000000")!).isEmpty)
        #expect(try await store.report(id + 100) == nil)
    }
}
