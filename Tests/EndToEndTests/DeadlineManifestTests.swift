import AsyncHTTPClient
import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing

/// Deadline manifests made by a running Blackboard, published, and checked with the programs a student and an
/// auditor run.
@Suite struct DeadlineManifestTests {
    static func upload(
        _ servers: LiveServers, _ student: StudentID, key: Int, assignment: String, receipts: String
    ) async throws -> UploadClient.Result {
        let credentials = try await servers.enroll(student, key: TestKeys.pool[key])
        return try await servers.uploader(assignment: assignment, receipts: receipts).upload(
            [Array("Report of \(student) for \(assignment)\n".utf8)], as: credentials)
    }

    /// Waits until Blackboard keeps a manifest of `assignment` of `kind`, looking every 100 ms for at most 60 s.
    static func manifest(_ servers: LiveServers, _ assignment: String, _ kind: ManifestDocument.Kind) async throws
        -> StoredManifest?
    {
        let end = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < end {
            if let found = try await servers.blackboard.store.manifests(of: assignment).first(where: { $0.kind == kind }
            ) {
                return found
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// After the deadline: the manifest lists the on-time receipts; `student verify-receipt --manifest` accepts each
    /// of them and refuses a receipt that is not in it; `blackboard manifest export`, `proof` and `verify` and the
    /// unauthenticated HTTP endpoint give and check the same manifest.
    @Test func afterTheDeadlineTheManifestHoldsTheOnTimeReceipts() async throws {
        try await LiveServers.with(configureBlackboard: { $0.adminPort = 0 }) { servers in
            // CUHK's clock decides: a deadline an hour from now, and Blackboard told that it has passed.
            let deadline = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded(.down))
            try await servers.blackboard.store.addAssignment(Assignment(name: "a1", deadline: deadline))
            let receipts = SecureFile.join(servers.directory, "receipts")
            var results: [UploadClient.Result] = []
            for (index, student) in ["1155000001", "1155000002", "1155000003"].enumerated() {
                results.append(
                    try await Self.upload(
                        servers, StudentID(student)!, key: index, assignment: "a1", receipts: receipts))
            }
            await servers.blackboard.manifests.makeDue(now: deadline.addingTimeInterval(10))
            let manifest = try #require(
                try await servers.blackboard.store.manifests(of: "a1").first { $0.kind == .onTime })
            #expect(manifest.bundle.leaves.map(\.report) == results.map { UInt64($0.receipt.document.report) })
            #expect(manifest.bundle.leafData == results.map { ManifestDocument.leaf(ofReceipt: $0.signedReceipt) })
            // A report handed in afterwards, still before the deadline by CUHK's clock: on time, not in the manifest.
            let outsider = try await Self.upload(
                servers, StudentID("1155000004")!, key: 3, assignment: "a1", receipts: receipts)
            #expect(!outsider.receipt.document.isLate)

            let blackboardDirectory = SecureFile.join(servers.directory, "blackboard")
            let work = try temporaryDirectory()
            let file = SecureFile.join(work, "a1.manifest")
            let export = try await Program.blackboard.run(
                ["manifest", "export", "a1", "--out", file, "--dir", blackboardDirectory], in: work)
            #expect(export.status == 0, "\(export.all)")
            #expect(try SecureFile.readBytes(at: file, limit: 1 << 20) == manifest.bundle.bytes)
            let again = try await Program.blackboard.run(
                ["manifest", "export", "a1", "--out", file, "--dir", blackboardDirectory], in: work)
            #expect(again.status == 1)
            let noLate = try await Program.blackboard.run(
                ["manifest", "export", "a1", "--late", "--out", file + ".late", "--dir", blackboardDirectory], in: work)
            #expect(noLate.status == 1 && noLate.errorOutput.contains("no late manifest of a1"))

            for result in results {
                let check = try await Program.student.run(
                    [
                        "verify-receipt", try #require(result.path), "--manifest", file, "--root-cert",
                        servers.rootPath,
                        "--offline",
                    ], in: work)
                #expect(check.status == 0, "\(check.all)")
                #expect(check.output.contains("Manifest: the on-time manifest of a1"))
                #expect(check.output.contains("this receipt is leaf"))
            }
            let missing = try await Program.student.run(
                [
                    "verify-receipt", try #require(outsider.path), "--manifest", file, "--root-cert", servers.rootPath,
                    "--offline",
                ], in: work)
            #expect(missing.status == 8, "\(missing.all)")
            #expect(missing.errorOutput.contains("the receipt says on time, but it is missing from this signed"))

            let audit = try await Program.blackboard.run(
                ["manifest", "verify", file, "--root-cert", servers.rootPath], in: work)
            #expect(audit.status == 0, "\(audit.all)")
            #expect(audit.output.contains("Manifest verified: the on-time manifest of a1"))
            #expect(audit.output.contains("Leaves: the 3 listed make the signed root"))
            // A leaf left out: the auditor's check fails.
            let text = String(decoding: manifest.bundle.bytes, as: UTF8.self)
            let firstLeaf = try #require(text.split(separator: "\n").first { $0.hasPrefix("leaf: ") })
            let cut = SecureFile.join(work, "cut.manifest")
            try SecureFile.write(
                text.replacingOccurrences(of: firstLeaf + "\n", with: "").replacingOccurrences(
                    of: "leaves: 3", with: "leaves: 2"), to: cut, mode: 0o644, replacing: false)
            let refused = try await Program.blackboard.run(
                ["manifest", "verify", cut, "--root-cert", servers.rootPath], in: work)
            #expect(refused.status == 8 && refused.errorOutput.contains("the leaves do not make the manifest's tree"))

            let report = results[1].receipt.document.report
            let proof = try await Program.blackboard.run(
                ["manifest", "proof", "a1", "--report", "\(report)", "--dir", blackboardDirectory], in: work)
            #expect(proof.status == 0 && proof.output.contains("Report \(report) is leaf 1 of 3"), "\(proof.all)")
            #expect(proof.output.contains("the path leads from the leaf to the root"))

            // Published without login.
            let admin = try await servers.blackboard.adminAddress()
            let published = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(admin.port ?? 0)/manifests/a1"), timeout: .seconds(10))
            #expect(published.status == .ok)
            #expect(published.headers.first(name: "Content-Type") == "text/plain; charset=utf-8")
            #expect(Array(buffer: try await published.body.collect(upTo: 1 << 20)) == manifest.bundle.bytes)
            let late = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(admin.port ?? 0)/manifests/a1/late"), timeout: .seconds(10))
            #expect(late.status == .notFound)
            _ = try await late.body.collect(upTo: 1 << 16)
        }
    }

    /// Closing an assignment makes its late manifest; a late receipt is in it, and not in the on-time one.
    @Test func closingMakesTheLateManifest() async throws {
        try await LiveServers.with { servers in
            let deadline = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 3600).rounded(.down))
            try await servers.blackboard.store.addAssignment(Assignment(name: "old", deadline: deadline))
            let receipts = SecureFile.join(servers.directory, "receipts")
            let late = try await Self.upload(servers, sid, key: 0, assignment: "old", receipts: receipts)
            #expect(late.receipt.document.isLate && late.receipt.timestamp != nil)
            #expect(try await servers.blackboard.store.closeAssignment(named: "old"))
            let closed = try #require(try await servers.blackboard.store.assignments().first { $0.name == "old" })
            await servers.blackboard.manifests.makeDue()
            let onTime = try #require(try await Self.manifest(servers, "old", .onTime))
            let lateManifest = try #require(try await Self.manifest(servers, "old", .late))
            #expect(onTime.bundle.leaves.isEmpty)
            #expect(lateManifest.bundle.leaves.map(\.report) == [UInt64(late.receipt.document.report)])
            let root = try servers.root
            let verified = try await SignedManifest.verify(
                lateManifest.bundle.signedManifest, root: root, blackboardName: "blackboard",
                receipt: late.signedReceipt, evidence: .leaves(lateManifest.bundle.leafData),
                window: SignedManifest.timestampWindow)
            #expect(verified.document.kind == .late && verified.receiptIndex == 0)
            // The on-time manifest was timestamped an hour after the deadline: outside the window.
            await #expect(throws: ManifestError.self) {
                _ = try await SignedManifest.verify(
                    onTime.bundle.signedManifest, root: root, blackboardName: "blackboard",
                    evidence: .leaves(onTime.bundle.leafData), window: SignedManifest.timestampWindow)
            }
            // A second look makes nothing new: the first manifests are kept.
            _ = try await servers.blackboard.manifests.make(.late, of: closed)
            #expect(try await servers.blackboard.store.manifests(of: "old").count == 2)
            #expect(
                try await servers.blackboard.store.manifests(of: "old").first { $0.kind == .late } == lateManifest)
        }
    }

    /// Blackboard's own timer: a deadline that passed before it started, and one that passes while it runs.
    @Test func theTimerMakesManifestsAtStartAndAtTheDeadline() async throws {
        let passed = Assignment(name: "passed", deadline: Date().addingTimeInterval(-600))
        let soon = Assignment(name: "soon", deadline: Date().addingTimeInterval(3))
        let store = InMemoryBlackboardStore(assignments: [passed, soon])
        try await LiveServers.with(blackboardStore: store) { servers in
            let first = try #require(try await Self.manifest(servers, "passed", .onTime))
            #expect(first.bundle.leaves.isEmpty)
            let second = try #require(try await Self.manifest(servers, "soon", .onTime))
            // Made after the deadline, by CUHK's clock.
            #expect(second.timestampedAt > soon.deadline!)
            // Still open: no late manifest.
            #expect(try await store.manifests(of: "soon").map(\.kind) == [.onTime])
        }
    }
}
