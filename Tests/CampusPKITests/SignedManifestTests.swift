import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import CampusPKI

/// Deadline manifests: the head's canonical form, signing with a CUHK timestamp, and every check of verification.
@Suite struct SignedManifestTests {
    typealias PKI = TimestampTestPKI
    typealias ReceiptPKI = SignedReceiptTests.PKI

    static let deadline = ReceiptDocument.parseTimestamp("2026-12-01T23:59:59Z")!

    /// A signed receipt for `report` of assignment `assignment`.
    static func receipt(report: UInt64, assignment: String = "a1", late: Bool = false) throws -> [UInt8] {
        let content = Array("report \(report)".utf8)
        let document = try ReceiptDocument(
            studentID: "1155123456", certificateSerial: "7f01", assignment: assignment, deadline: deadline,
            report: report, messageCount: 1, totalBytes: UInt64(content.count),
            contentSHA256: Array(SHA256.hash(data: content)),
            committedAt: deadline.addingTimeInterval(late ? 60 : -60), isLate: late)
        return try SignedReceipt.sign(
            document, certificate: try ReceiptPKI.service(), privateKey: ReceiptPKI.serviceKey)
    }

    static let reports: [UInt64] = [20, 3, 12, 7, 8]
    static let receipts = reports.map { try! receipt(report: $0) }

    /// The on-time manifest of ``receipts``, its leaves in report order, and the manifest's DER.
    static func manifest(
        receipts: [[UInt8]] = receipts, authority: PKI.Authority = .init(), trusting root: Certificate = PKI.root,
        signer: Certificate? = nil, key: P256.Signing.PrivateKey = ReceiptPKI.serviceKey
    ) async throws -> (document: ManifestDocument, leaves: [[UInt8]], der: [UInt8]) {
        let (document, leaves) = try ManifestDocument.build(
            assignment: "a1", deadline: deadline, kind: .onTime,
            receipts: zip(reports, receipts).map { (report: $0, der: $1) })
        let der = try await SignedManifest.sign(
            document, certificate: try signer ?? ReceiptPKI.service(), privateKey: key, timestamps: authority,
            root: root)
        return (document, leaves, der)
    }

    func failure(_ body: () async throws -> Void) async -> ManifestError? {
        do {
            try await body()
            return nil
        } catch let error as ManifestError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    func verify(
        _ der: [UInt8], receipt: [UInt8]? = nil, evidence: SignedManifest.InclusionEvidence? = nil
    ) async throws -> SignedManifest.VerifiedManifest {
        try await SignedManifest.verify(
            der, root: PKI.root, blackboardName: "blackboard", receipt: receipt, evidence: evidence)
    }

    // MARK: - The head

    @Test func theLeavesAreTheReceiptsDigestsInReportOrder() throws {
        let (document, leaves) = try ManifestDocument.build(
            assignment: "a1", deadline: Self.deadline, kind: .onTime,
            receipts: zip(Self.reports, Self.receipts).map { (report: $0, der: $1) })
        let ordered = zip(Self.reports, Self.receipts).sorted { $0.0 < $1.0 }.map { Array(SHA256.hash(data: $0.1)) }
        #expect(leaves == ordered)
        #expect(document.treeSize == 5)
        #expect(document.rootHash == MerkleTree.rootHash(leaves: ordered))
        #expect(throws: ManifestError.self) {
            try ManifestDocument.build(
                assignment: "a1", deadline: nil, kind: .late, receipts: [(1, [1]), (1, [2])])
        }
    }

    @Test func onlyTheCanonicalHeadIsRead() throws {
        let head = try ManifestDocument(
            assignment: "a1", deadline: nil, kind: .late, treeSize: 12, rootHash: [UInt8](repeating: 0xab, count: 32))
        let text = head.canonicalText
        #expect(text.contains("deadline: none\nkind: late\n"))
        #expect(try ManifestDocument(parsing: Array(text.utf8)) == head)
        for (from, to) in [
            ("size: 12", "size: 012"), ("kind: late", "kind: early"), ("tree: rfc9162-sha256", "tree: sha1"),
            ("version: 1", "version: 2"), ("root: ab", "root: AB"), ("deadline: none", "deadline: tomorrow"),
        ] {
            let changed = text.replacingOccurrences(of: from, with: to)
            #expect(throws: ManifestError.self, "\(to)") { try ManifestDocument(parsing: Array(changed.utf8)) }
        }
        #expect(throws: ManifestError.self) { try ManifestDocument(parsing: Array((text + "\n").utf8)) }
    }

    // MARK: - Verification

    @Test func aManifestVerifiesWithItsLeavesAndWithEachReceipt() async throws {
        let (document, leaves, der) = try await Self.manifest()
        let verified = try await verify(der, evidence: .leaves(leaves))
        #expect(verified.document == document)
        #expect(verified.signer.publicKey == Certificate.PublicKey(ReceiptPKI.serviceKey.publicKey))
        #expect(verified.signer.subject.description.contains("CN=blackboard"))
        #expect(verified.timestamp.policy == .cuhk)
        #expect(verified.receiptIndex == nil)
        #expect(verified.timestampedAfterDeadline.map { $0 > 0 } == true)
        let hashes = leaves.map { MerkleTree.leafHash($0) }
        for (report, receipt) in zip(Self.reports, Self.receipts) {
            let index = Self.reports.sorted().firstIndex(of: report)!
            let byLeaves = try await verify(der, receipt: receipt, evidence: .leaves(leaves))
            #expect(byLeaves.receiptIndex == UInt64(index))
            let proof = try #require(InclusionProof(leafAt: index, leafHashes: hashes))
            let byProof = try await verify(der, receipt: receipt, evidence: .proof(proof))
            #expect(byProof.receiptIndex == UInt64(index))
        }
    }

    @Test func aMissingExtraOrReorderedLeafIsFound() async throws {
        let (_, leaves, der) = try await Self.manifest()
        var missing = leaves
        missing.remove(at: 2)
        var extra = leaves
        extra.append(Array(SHA256.hash(data: [1])))
        var reordered = leaves
        reordered.swapAt(1, 3)
        var changed = leaves
        changed[4][0] ^= 1
        for (name, list) in [("missing", missing), ("extra", extra), ("reordered", reordered), ("changed", changed)] {
            let error = await failure { _ = try await verify(der, evidence: .leaves(list)) }
            guard case .leavesMismatch(let reason) = error else {
                Issue.record("\(name): expected a leaves mismatch, got \(String(describing: error))")
                continue
            }
            #expect(reason.contains(list.count == 5 ? "root hash" : "leaves are given"), "\(name): \(reason)")
        }
    }

    @Test func aReceiptThatIsNotInTheManifestIsRefused() async throws {
        let (_, leaves, der) = try await Self.manifest()
        let outsider = try Self.receipt(report: 99)
        let byLeaves = await failure { _ = try await verify(der, receipt: outsider, evidence: .leaves(leaves)) }
        guard case .notIncluded = byLeaves else {
            Issue.record("expected not included, got \(String(describing: byLeaves))")
            return
        }
        // Another receipt's proof does not lead from this receipt's leaf to the root.
        let hashes = leaves.map { MerkleTree.leafHash($0) }
        let proof = try #require(InclusionProof(leafAt: 0, leafHashes: hashes))
        let byProof = await failure { _ = try await verify(der, receipt: outsider, evidence: .proof(proof)) }
        #expect(
            byProof
                == .notIncluded("the inclusion proof does not lead from the receipt's leaf to the manifest's root hash")
        )
        var otherSize = proof
        otherSize.treeSize = 6
        let sized = await failure { _ = try await verify(der, receipt: Self.receipts[1], evidence: .proof(otherSize)) }
        #expect(sized.map { "\($0)" }?.contains("tree of 6 leaves") == true)
        // A late receipt, or one for another assignment, does not belong in an on-time manifest of a1.
        let late = await failure {
            _ = try await verify(der, receipt: try Self.receipt(report: 3, late: true), evidence: .leaves(leaves))
        }
        #expect(late == .receiptMismatch("the receipt says late, but the manifest lists on-time reports"))
        let other = await failure {
            _ = try await verify(der, receipt: try Self.receipt(report: 3, assignment: "a2"), evidence: .leaves(leaves))
        }
        guard case .receiptMismatch = other else {
            Issue.record("expected a receipt mismatch, got \(String(describing: other))")
            return
        }
        // A receipt needs evidence; a proof needs a receipt.
        let noEvidence = await failure { _ = try await verify(der, receipt: Self.receipts[0]) }
        guard case .missingEvidence = noEvidence else {
            Issue.record("expected missing evidence, got \(String(describing: noEvidence))")
            return
        }
        let noReceipt = await failure { _ = try await verify(der, evidence: .proof(proof)) }
        guard case .missingEvidence = noReceipt else {
            Issue.record("expected missing evidence, got \(String(describing: noReceipt))")
            return
        }
    }

    @Test func aChangedHeadIsRefused() async throws {
        let (document, _, der) = try await Self.manifest()
        let rootHex = Array(document.rootHash.hexString.utf8)
        var changed = der
        let range = try #require(der.firstRange(of: rootHex))
        changed[range.lowerBound] =
            changed[range.lowerBound] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
        let error = await failure { _ = try await verify(changed) }
        #expect(error == .badSignature("the content is not the content that was signed (its SHA-256 differs)"))
    }

    @Test func aManifestWithoutItsTimestampOrWithAnotherIsRefused() async throws {
        let (document, _, der) = try await Self.manifest()
        var message = try SignedDataMessage(derEncoded: der, maximumSize: 1 << 16, what: "manifest")
        let token = try #require(message.unsignedAttributes.first?.values.first)

        var bare = message
        bare.unsignedAttributes = []
        let missing = await failure { _ = try await verify(try bare.derEncoded()) }
        guard case .timestamp(let reason) = missing else {
            Issue.record("expected a timestamp failure, got \(String(describing: missing))")
            return
        }
        #expect(reason.contains("carries no CUHK timestamp"))

        // A token over other bytes (the head itself rather than the signature).
        let otherBytes = try PKI.token(for: MessageImprint(of: document.canonicalBytes), nonce: nil)
        message.unsignedAttributes = [.init(type: SignedManifest.timestampAttribute, values: [otherBytes.derEncoded])]
        let overOther = await failure { _ = try await verify(try message.derEncoded()) }
        #expect(overOther.map { "\($0)" }?.contains("is for other data") == true)

        // A token from another authority, over the right bytes.
        let otherKey = P256.Signing.PrivateKey()
        let otherTSA = try PKI.authority(key: otherKey, issuerKey: ReceiptPKI.otherRootKey)
        let foreign = try PKI.token(
            for: MessageImprint(of: message.signature), nonce: nil, certificate: otherTSA, key: otherKey)
        message.unsignedAttributes = [.init(type: SignedManifest.timestampAttribute, values: [foreign.derEncoded])]
        let fromOther = await failure { _ = try await verify(try message.derEncoded()) }
        #expect(fromOther.map { "\($0)" }?.contains("not issued by this root") == true)

        // Two tokens in the attribute.
        message.unsignedAttributes = [
            .init(type: SignedManifest.timestampAttribute, values: [token, foreign.derEncoded])
        ]
        let two = await failure { _ = try await verify(try message.derEncoded()) }
        #expect(two.map { "\($0)" }?.contains("more than one value") == true)

        // The signer refuses to keep a token that does not verify against its root.
        let otherAuthority = PKI.Authority(certificate: otherTSA, key: otherKey)
        await #expect(throws: ManifestError.self) { _ = try await Self.manifest(authority: otherAuthority) }
    }

    @Test func onlyBlackboardValidAtTheTimestampCanSign() async throws {
        // A Blackboard certificate that had expired when CUHK timestamped the manifest.
        let expired = try ReceiptPKI.service(
            notBefore: Date().addingTimeInterval(-10 * 86_400), notAfter: Date().addingTimeInterval(-86_400))
        let (_, _, der) = try await Self.manifest(signer: expired)
        let error = await failure { _ = try await verify(der) }
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected an untrusted signer, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("expired"))
        // The TSA certificate is no Blackboard.
        let (_, _, byTSA) = try await Self.manifest(signer: PKI.tsa, key: PKI.tsaKey)
        let tsaError = await failure { _ = try await verify(byTSA) }
        #expect(tsaError.map { "\($0)" }?.contains("server-auth") == true)
    }

    @Test(.enabled(if: SignedReceiptTests.openSSL != nil, "skipped: no openssl command"))
    func openSSLVerifiesTheManifestsSignature() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("m-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (document, _, der) = try await Self.manifest()
        try PKI.root.serializeAsPEM().pemString.write(
            toFile: directory + "/root.pem", atomically: true, encoding: .utf8)
        try Data(der).write(to: URL(fileURLWithPath: directory + "/manifest.p7s"))
        let result = try SignedReceiptTests.runOpenSSL([
            "cms", "-verify", "-inform", "DER", "-in", directory + "/manifest.p7s", "-CAfile", directory + "/root.pem",
            "-purpose", "any", "-out", directory + "/head.txt",
        ])
        #expect(result.status == 0, "openssl: \(result.output)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/head.txt"))) == document.canonicalBytes)
        // OpenSSL reads the token in the unsigned attribute as well.
        let printed = try SignedReceiptTests.runOpenSSL([
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", directory + "/manifest.p7s", "-noout",
        ])
        #expect(printed.output.contains("id-smime-aa-timeStampToken"))
    }
}
