import CampusPKI
import CampusStudent
import Foundation
import Testing

/// `student --retries` and what `blackboard reports` shows of a session that was cut off.
@Suite struct RetryProgramTests {
    @Test func eachRetryIsOneLineAndZeroRetriesTriesOnce() async throws {
        let directory = try temporaryDirectory()
        let port = try await ClosedPort.find()
        let arguments = ["--sid", "1155123456", "--message", "hi", "--ca", "127.0.0.1:\(port)"]
        let once = try await Program.student.run(arguments + ["--retries", "0"], in: directory)
        #expect(once.status == 5)
        #expect(!once.errorOutput.contains("retrying"))
        let twice = try await Program.student.run(arguments + ["--retries", "1"], in: directory)
        #expect(twice.status == 5)
        let retries = twice.errorOutput.split(separator: "\n").filter { $0.contains("retrying in") }
        #expect(retries.count == 1)
        #expect(
            retries.first?.hasPrefix(
                "student: cannot connect to CUHK at 127.0.0.1:\(port) (connection refused); retrying in ") == true)
        #expect(retries.first?.hasSuffix(" s (attempt 2 of 2)") == true)
        // After the last attempt, the failure as before.
        #expect(twice.errorOutput.contains("cannot reach CUHK at 127.0.0.1:\(port) (connection refused)"))
    }

    @Test func retriesOutOfRangeAreAUsageError() async throws {
        let outcome = try await Program.student.run(
            ["--sid", "1155123456", "--message", "hi", "--retries", "11"], in: try temporaryDirectory())
        #expect(outcome.status == 64)
        #expect(outcome.errorOutput.contains("--retries must be from 0 to 10"))
    }

    @Test func blackboardReportsListsACutSessionAsAnIncompleteAttempt() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let credentials = try await servers.enroll(sid)
        let relay = CuttingRelay(target: servers.blackboardAddress)
        let root = try servers.root
        _ = try await relay.run { address -> Bool in
            do {
                _ = try await UploadClient(configuration: .init(blackboard: address, root: root, window: 1)).upload(
                    feeds: { UploadRetryTests.CuttingFeed(cut: { @Sendable in await relay.cut() }) },
                    as: credentials, retrying: .none)
                return true
            } catch {
                return false
            }
        }
        let listed = try await Program.blackboard.run(["reports"], in: servers.directory)
        #expect(listed.status == 0)
        #expect(listed.output.contains("0 reports"))
        #expect(listed.output.contains("Incomplete attempts (no receipt; not reports, not counted):"))
        #expect(listed.output.contains("1 incomplete attempt"))
        let json = try await Program.blackboard.run(["reports", "--incomplete", "--json"], in: servers.directory)
        let attempts = try #require(
            try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(attempts.count == 1)
        #expect(attempts.first?["sid"] as? String == sid.rawValue)
        #expect(attempts.first?["message_count"] as? Int == 2)
        #expect(attempts.first?["report"] == nil)
    }
}
