import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// The timestamp token and the manifest head of docs/PROTOCOL.md section 9.5.
@Suite struct TimestampVectorTests {
    @Test func theDocumentsTokenVerifies() async throws {
        let root = try Certificate(pemEncoded: try #require(ReceiptVectorTests.block("tsa-vector-root")))
        let authority = try Certificate(pemEncoded: try #require(ReceiptVectorTests.block("tsa-vector-certificate")))
        let document = try PEMDocument(pemString: try #require(ReceiptVectorTests.block("tsa-vector-token")))
        #expect(document.discriminator == "CMS")
        let data = try #require(ProtocolVectorTests.vectors["receipt_document"])
        let verified = try await TimestampVerifier(root: root, validationTime: .generationTime).verify(
            document.derBytes, data: data, nonce: [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11])
        #expect(verified.generationTimeText == "2026-11-28T01:02:03.5Z")
        #expect(verified.generationTime == Date(timeIntervalSince1970: 1_795_827_723.5))
        #expect(verified.serialHex == "0102030405060708")
        #expect(verified.policy == .cuhk)
        #expect(verified.accuracy == (try TimestampAccuracy(seconds: 1)))
        #expect(verified.signer == authority)
        #expect(
            verified.messageImprint.hashedMessage.hexString
                == "d43e36671ebdc46a388a43f0a83964c998c685f4279d49ea82cb4e3ada983879")
        #expect(authority.serialNumber == Certificate.SerialNumber(bytes: [0x03]))
        #expect(TimestampAuthorityPolicy().failure(for: authority) == nil)
        // The key the document gives is the certificate's.
        let key = try P256PrivateKeyVector.key()
        #expect(authority.publicKey == Certificate.PublicKey(key.publicKey))
        // Other data: refused.
        await #expect(throws: TimestampError.self) {
            _ = try await TimestampVerifier(root: root, validationTime: .generationTime).verify(
                document.derBytes, data: data.dropLast())
        }
    }

    @Test func theDocumentsManifestHeadIsTheFiveLeafTreesHead() throws {
        let text = try #require(ReceiptVectorTests.block("manifest-document"))
        let (document, leaves) = try ManifestDocument.build(
            assignment: "a1", deadline: ReceiptDocument.parseTimestamp("2026-12-01T23:59:59Z"), kind: .onTime,
            receipts: [])
        #expect(leaves.isEmpty && document.treeSize == 0)
        let head = try ManifestDocument(
            assignment: "a1", deadline: ReceiptDocument.parseTimestamp("2026-12-01T23:59:59Z"), kind: .onTime,
            treeSize: 5, rootHash: MerkleTree.rootHash(leaves: MerkleTreeTests.leaves))
        #expect(head.canonicalText == text)
        #expect(try ManifestDocument(parsing: Array(text.utf8)) == head)
    }
}

enum P256PrivateKeyVector {
    /// The TSA key of section 9.5.
    static func key() throws -> P256.Signing.PrivateKey {
        try P256.Signing.PrivateKey(rawRepresentation: (0x21...0x40).map { UInt8($0) })
    }
}
