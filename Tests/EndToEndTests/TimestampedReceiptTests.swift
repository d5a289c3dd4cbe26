import AsyncHTTPClient
import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Receipts with CUHK's time: real CUHK and Blackboard servers, the Student's upload, `--timestamps` when CUHK's
/// timestamp authority is down, and a deadline rush.
@Suite struct TimestampedReceiptTests {
    /// A URL where nothing listens: a port bound and released.
    static func deadAuthorityURL() async throws -> String {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 1
        try await channel.close()
        return "http://127.0.0.1:\(port)/tsa"
    }

    static func metric(_ servers: LiveServers, outcome: ReportTimestamper.Outcome) -> Bool {
        servers.blackboard.metrics.metrics.exposition().contains(
            "blackboard_timestamps_total{outcome=\"\(outcome.rawValue)\"} 1")
    }

    @Test func aReceiptFromAnUploadCarriesCUHKsTimestamp() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let before = Date()
            let result = try await servers.uploader().upload([Array("Hello\n".utf8)], as: credentials)
            let timestamp = try #require(result.receipt.timestamp)
            guard case .cuhk(let token) = result.receipt.document.timestamp else {
                Issue.record("the receipt says \(String(describing: result.receipt.document.timestamp))")
                return
            }
            #expect(timestamp.policy == .cuhk)
            #expect(timestamp.generationTime >= before.addingTimeInterval(-1))
            #expect(
                result.receipt.document.committedAt == ReceiptDocument.wholeSecondsForTests(timestamp.generationTime))
            // The token is over this report, as anyone can recompute from the receipt.
            let imprint = TimestampedReport(receipt: result.receipt.document).imprint
            #expect(timestamp.messageImprint.hashedMessage == imprint.hashedMessage)
            // CUHK recorded it; Blackboard kept CUHK's time with the report and counted it.
            let records = try await servers.cuhk.registry.timestampRecords(limit: 10)
            #expect(records.map(\.serial).contains(timestamp.serialHex))
            let stored = try #require(try await servers.blackboard.store.reports(for: sid).first)
            #expect(
                stored.timestampedAt.map { $0.timeIntervalSince(timestamp.generationTime).magnitude < 0.001 } == true)
            #expect(stored.receipt == result.signedReceipt)
            #expect(Self.metric(servers, outcome: .timestamped))
            #expect(
                try await TimestampVerifier(root: try servers.root).verify(token, imprint: imprint).serialHex
                    == timestamp.serialHex)
        }
    }

    @Test(.enabled(if: OpenSSL.path != nil, "needs the openssl command"))
    func verifyReceiptSaysTimestampedAndTheExportedTokenVerifiesWithOpenSSL() async throws {
        try await LiveServers.with { servers in
            let receipts = SecureFile.join(servers.directory, "receipts")
            let credentials = try await servers.enroll(sid)
            let result = try await servers.uploader(receipts: receipts).upload(
                [Array("The report.\n".utf8)], as: credentials)
            let path = try #require(result.path)
            let work = try temporaryDirectory()
            let verify = try await Program.student.run(
                [
                    "verify-receipt", path, "--root-cert", servers.rootPath, "--offline", "--export-timestamp",
                    "token.der", "--export-timestamp-data", "report.tst",
                ], in: work)
            #expect(verify.status == 0, "\(verify.all)")
            #expect(verify.output.contains("Time: timestamped by CUHK at "))
            #expect(verify.output.contains("the token covers this receipt's report"))
            #expect(verify.output.contains("CUHK's timestamp token written to token.der"))
            let data = try #require(try SecureFile.readBytes(at: SecureFile.join(work, "report.tst")))
            #expect(data == TimestampedReport(receipt: result.receipt.document).canonicalBytes)
            let openssl = try OpenSSL.run([
                "ts", "-verify", "-data", SecureFile.join(work, "report.tst"), "-in",
                SecureFile.join(work, "token.der"),
                "-token_in", "-CAfile", servers.rootPath,
            ])
            #expect(openssl.status == 0, "\(openssl.output)")
            #expect(openssl.output.contains("Verification: OK"))
            // Other bytes (another report number): OpenSSL refuses the token.
            let other = SecureFile.join(work, "other.tst")
            try SecureFile.write(
                String(decoding: data, as: UTF8.self).replacingOccurrences(
                    of: "report: \(result.receipt.document.report)\n", with: "report: 999\n"),
                to: other, mode: 0o644, replacing: false)
            let refused = try OpenSSL.run([
                "ts", "-verify", "-data", other, "-in", SecureFile.join(work, "token.der"), "-token_in", "-CAfile",
                servers.rootPath,
            ])
            #expect(refused.status != 0)
            // OpenSSL still verifies the receipt itself, with its timestamp lines.
            let cms = try OpenSSL.run([
                "cms", "-verify", "-inform", "DER", "-in", path, "-CAfile", servers.rootPath, "-purpose", "any",
            ])
            #expect(cms.status == 0 && cms.output.contains("timestamp: cuhk\ntimestamp-token: MII"), "\(cms.output)")
        }
    }

    @Test func theAuthorityDownInSoftModeGivesAReceiptThatSaysSo() async throws {
        let dead = try await Self.deadAuthorityURL()
        try await LiveServers.with(configureBlackboard: { $0.timestampAuthorityURL = dead }) { servers in
            let credentials = try await servers.enroll(sid)
            let receipts = SecureFile.join(servers.directory, "receipts")
            let uploadStarted = Date()
            let result = try await servers.uploader(receipts: receipts).upload(
                [Array("Hello\n".utf8)], as: credentials)
            #expect(result.receipt.document.timestamp == .withoutTimestamp)
            #expect(result.receipt.timestamp == nil)
            #expect(try await servers.blackboard.store.reports(for: sid).count == 1)
            #expect(Self.metric(servers, outcome: .unavailable))
            // The failure is remembered: the deadline rush does not wait for it again. Asked as of the upload's start
            // (the failure came after it), since a busy machine can take longer than the 10 s memory to get here.
            #expect(servers.blackboard.timestampAuthority.failures.hasFailed(dead, at: uploadStarted))
            let verify = try await Program.student.run(
                ["verify-receipt", try #require(result.path), "--root-cert", servers.rootPath, "--offline"],
                in: servers.directory)
            #expect(verify.status == 0, "\(verify.all)")
            #expect(verify.output.contains("Time: no CUHK timestamp: the time is Blackboard's claim only"))
            #expect(verify.output.contains("CUHK could not be reached"))
            #expect(verify.output.contains("timestamp           none"))
            // Nothing to export.
            let export = try await Program.student.run(
                [
                    "verify-receipt", try #require(result.path), "--root-cert", servers.rootPath, "--offline",
                    "--export-timestamp", "token.der",
                ], in: servers.directory)
            #expect(export.status == 1 && export.errorOutput.contains("carries no CUHK timestamp"))
        }
    }

    @Test func theAuthorityDownInHardModeRefusesTheReport() async throws {
        let dead = try await Self.deadAuthorityURL()
        try await LiveServers.with(configureBlackboard: {
            $0.timestampAuthorityURL = dead
            $0.timestamps = .hard
        }) { servers in
            let credentials = try await servers.enroll(sid)
            await #expect {
                _ = try await servers.uploader().upload([Array("Hello\n".utf8)], as: credentials)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .timestampUnavailable && refusal.reason.contains("CUHK's timestamp authority")
            }
            #expect(try await servers.blackboard.store.reports(for: nil).isEmpty)
            #expect(Self.metric(servers, outcome: .refused))
        }
    }

    @Test func offAsksNothingAndMakesNoManifest() async throws {
        try await LiveServers.with(configureBlackboard: { $0.timestamps = .off }) { servers in
            let credentials = try await servers.enroll(sid)
            let result = try await servers.uploader().upload([Array("Hello\n".utf8)], as: credentials)
            #expect(result.receipt.document.timestamp == .withoutTimestamp)
            #expect(try await servers.cuhk.registry.timestampCount() == 0)
            #expect(!servers.blackboard.metrics.metrics.exposition().contains("blackboard_timestamps_total"))
        }
    }

    /// 200 students hand in at once: every report is committed with its own CUHK token, and its own number.
    @Test func aDeadlineRushOf200StudentsIsAllTimestamped() async throws {
        // OCSP is not what this test is about: each of the 200 handshakes would ask CUHK about a new certificate.
        // The handshake timeout is generous: on a busy 2-core machine, 200 handshakes at once take their time, and
        // this test is about every report being timestamped, not about speed.
        try await LiveServers.with(configureBlackboard: {
            $0.revocation = .off
            $0.handshakeTimeout = .seconds(300)
        }) { servers in
            let students = (0..<200).map { StudentID(String(1_155_100_000 + $0))! }
            // Enrolled 8 at a time (enrollment is not what this test is about); the uploads below all run at once.
            let credentials = try await withThrowingTaskGroup(of: StudentCredentials.self) { group in
                var enrolled: [StudentCredentials] = []
                for (index, student) in students.enumerated() {
                    if index >= 8, let next = try await group.next() { enrolled.append(next) }
                    let client = try servers.enrollment(for: student, key: TestKeys.pool[index % TestKeys.pool.count])
                    group.addTask { try await client.enroll(student).0 }
                }
                return try await group.reduce(into: enrolled) { $0.append($1) }
            }
            let uploader = try servers.uploader()
            let results = try await withThrowingTaskGroup(of: UploadClient.Result.self) { group in
                for student in credentials {
                    group.addTask {
                        try await uploader.upload([Array("Report of \(student.studentID)\n".utf8)], as: student)
                    }
                }
                return try await group.reduce(into: [UploadClient.Result]()) { $0.append($1) }
            }
            #expect(results.count == 200)
            #expect(results.allSatisfy { $0.receipt.timestamp != nil })
            #expect(Set(results.map(\.receipt.document.report)).count == 200)
            #expect(Set(results.compactMap { $0.receipt.timestamp?.serialHex }).count == 200)
            let stored = try await servers.blackboard.store.reports(for: nil)
            #expect(stored.count == 200 && stored.allSatisfy { $0.timestampedAt != nil })
            #expect(try await servers.cuhk.registry.timestampCount() == 200)
            #expect(
                servers.blackboard.metrics.metrics.exposition().contains(
                    "blackboard_timestamps_total{outcome=\"timestamped\"} 200"))
        }
    }
}

extension ReceiptDocument {
    /// `date` cut to whole seconds, as receipts keep times.
    static func wholeSecondsForTests(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}
