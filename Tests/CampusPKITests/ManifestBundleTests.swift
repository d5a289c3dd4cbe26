import CampusPKI
import Crypto
import Foundation
import Testing
import X509

/// The published form of a manifest (its leaves and the signed head in one text file), and the window within which
/// an on-time manifest must be timestamped.
@Suite struct ManifestBundleTests {
    typealias Manifests = SignedManifestTests
    typealias PKI = TimestampTestPKI

    static func bundle() async throws -> (ManifestBundle, ManifestDocument) {
        let (document, leaves, der) = try await Manifests.manifest()
        let bundle = try ManifestBundle(
            leaves: zip(Manifests.reports.sorted(), leaves).map { ManifestBundle.Leaf(report: $0, data: $1) },
            signedManifest: der)
        return (bundle, document)
    }

    @Test func aBundleReadsBackAndItsLeavesMakeTheRoot() async throws {
        let (bundle, document) = try await Self.bundle()
        let text = bundle.text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "CampusPKI deadline manifest bundle")
        #expect(lines[1] == "leaves: 5")
        #expect(lines[2] == "leaf: 3 \(Array(SHA256.hash(data: Manifests.receipts[1])).hexString)")
        #expect(lines[7] == "-----BEGIN CMS-----")
        #expect(text.hasSuffix("-----END CMS-----\n"))
        #expect(lines.dropFirst(8).allSatisfy { $0.count <= 64 })
        let read = try ManifestBundle(parsing: bundle.bytes)
        #expect(read == bundle)
        let verified = try await SignedManifest.verify(
            read.signedManifest, root: PKI.root, blackboardName: "blackboard", receipt: Manifests.receipts[0],
            evidence: .leaves(read.leafData))
        #expect(verified.document == document)
        #expect(verified.receiptIndex == 4)  // report 20, the largest of five
    }

    @Test func aBundleWithAMissingExtraOrReorderedLeafIsRefused() async throws {
        let (bundle, _) = try await Self.bundle()
        var missing = bundle.leaves
        missing.remove(at: 1)
        var extra = bundle.leaves
        extra.append(.init(report: 99, data: Array(SHA256.hash(data: [9]))))
        var reordered = bundle.leaves
        // Report numbers kept in order, leaf data swapped: the tree changes.
        (reordered[1].data, reordered[2].data) = (reordered[2].data, reordered[1].data)
        for (name, leaves) in [("missing", missing), ("extra", extra), ("reordered", reordered)] {
            let changed = try ManifestBundle(leaves: leaves, signedManifest: bundle.signedManifest)
            let read = try ManifestBundle(parsing: changed.bytes)
            await #expect(throws: ManifestError.self, "\(name)") {
                _ = try await SignedManifest.verify(
                    read.signedManifest, root: PKI.root, blackboardName: "blackboard",
                    evidence: .leaves(read.leafData))
            }
        }
        // Leaves out of report order are not a bundle at all.
        var swapped = bundle.leaves
        swapped.swapAt(0, 1)
        #expect(throws: ManifestError.self) { _ = try ManifestBundle(leaves: swapped, signedManifest: [1]) }
    }

    @Test func onlyTheCanonicalBundleIsRead() async throws {
        let (bundle, _) = try await Self.bundle()
        let text = bundle.text
        for (from, to) in [
            ("leaves: 5", "leaves: 4"), ("leaves: 5", "leaves: 05"), ("leaf: 3 ", "leaf: 3  "),
            ("-----BEGIN CMS-----", "-----BEGIN PKCS7-----"), ("bundle\n", "bundle\r\n"),
        ] {
            let changed = text.replacingOccurrences(of: from, with: to)
            #expect(changed != text)
            #expect(throws: ManifestError.self, "\(from) → \(to)") {
                _ = try ManifestBundle(parsing: Array(changed.utf8))
            }
        }
        #expect(throws: ManifestError.self) { _ = try ManifestBundle(parsing: Array((text + "more\n").utf8)) }
        let upper = text.replacingOccurrences(
            of: bundle.leaves[0].data.hexString, with: bundle.leaves[0].data.hexString.uppercased())
        #expect(throws: ManifestError.self) { _ = try ManifestBundle(parsing: Array(upper.utf8)) }
    }

    @Test func anOnTimeManifestTimestampedAfterTheWindowIsRefused() async throws {
        // The deadline of the test manifests is days ago: timestamped now, far outside 5 minutes.
        let (_, leaves, der) = try await Manifests.manifest()
        let late = await #expect(throws: ManifestError.self) {
            _ = try await SignedManifest.verify(
                der, root: PKI.root, blackboardName: "blackboard", evidence: .leaves(leaves),
                window: SignedManifest.timestampWindow)
        }
        guard case .timestampedTooLate(let reason) = late else {
            Issue.record("expected timestampedTooLate, got \(String(describing: late))")
            return
        }
        #expect(reason.contains("after the deadline 2026-12-01T23:59:59Z, later than the 5 min allowed"))
        // Timestamped 4 minutes after the deadline: within the window.
        let authority = PKI.Authority(time: Manifests.deadline.addingTimeInterval(240))
        // Blackboard's certificate must have been valid at CUHK's time, days ago.
        let signer = try SignedReceiptTests.PKI.service(notBefore: Date().addingTimeInterval(-30 * 86_400))
        let (_, _, early) = try await Manifests.manifest(authority: authority, signer: signer)
        let verified = try await SignedManifest.verify(
            early, root: PKI.root, blackboardName: "blackboard", evidence: .leaves(leaves),
            window: SignedManifest.timestampWindow)
        #expect(verified.timestampedAfterDeadline == 240)
    }

    @Test func durationsReadAsWords() {
        #expect(SignedManifest.describe(42) == "42 s")
        #expect(SignedManifest.describe(300) == "5 min")
        #expect(SignedManifest.describe(-125) == "2 min 5 s")
        #expect(SignedManifest.describe(7500) == "2 h 5 min")
    }
}
