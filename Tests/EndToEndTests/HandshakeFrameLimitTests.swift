import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing
import X509
import _CryptoExtras

/// Before the handshake is complete Blackboard accepts only frames the size of handshake messages, so a connection
/// that has proven nothing cannot make it buffer a large frame; after `sessionSecure`, report messages may be large.
@Suite struct HandshakeFrameLimitTests {
    static func lengthPrefix(_ length: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt32(length).bigEndian, Array.init)
    }

    @Test func aFirstFrameOverTheHandshakeLimitIsRefusedOnItsLength() async throws {
        try await LiveServers.with { servers async throws in
            let address = servers.blackboardAddress
            let limit = BlackboardServer.handshakeFrameLimit
            // The length alone is refused; nothing of the payload was sent.
            #expect(
                try await RawClient.errorCode(address, sending: Self.lengthPrefix(limit + 1), halfClose: true)
                    == .frameTooLarge)
            // A frame of exactly the limit is read (and refused for what it holds).
            let largest = Self.lengthPrefix(limit) + [2, 0x10] + [UInt8](repeating: 0, count: limit - 2)
            #expect(try await RawClient.errorCode(address, sending: largest) == .malformedMessage)
        }
    }

    @Test func afterTheRequestOnlyAKeyConfirmationSizedFrameIsAccepted() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let request = RawClient.frame(.uploadRequest(.sample(certificatePEM: credentials.certificatePEM)))
            let oversized = Self.lengthPrefix(BlackboardServer.confirmationFrameLimit + 1)
            let answer = try RawClient.messages(
                in: try await RawClient.exchange(
                    servers.blackboardAddress, sending: request + oversized, halfClose: true))
            #expect(answer.map(\.kind) == [.sessionKey, .blackboardSignature, .error])
            guard case .error(let error) = answer.last else { return }
            #expect(error.code == .frameTooLarge)
        }
    }

    @Test func aLargeMessageRightAfterTheHandshakeIsAccepted() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let large = (0..<900_000).map { UInt8(truncatingIfNeeded: $0) }
            let receipt = try await servers.uploader().upload([large, [1]], as: credentials).receipt.document
            #expect(receipt.messageCount == 2 && receipt.totalBytes == 900_001)
        }
    }

    /// The largest legitimate first frame fits: a request with a 64-character assignment name and a certificate
    /// as CUHK issues it, for an RSA key of 8,192 bits (the largest that BoringSSL, hence CUHK and Blackboard,
    /// accept).
    @Test func theLargestLegitimateRequestFitsTheHandshakeLimit() throws {
        let root = try RootAuthority.make()
        var modulus = [UInt8](repeating: 0xA5, count: 8_192 / 8)
        modulus[0] = 0xC3
        modulus[modulus.count - 1] |= 1
        let key = try _RSA.Signing.PublicKey(n: modulus, e: [0x01, 0x00, 0x01])
        let publicKey = Certificate.PublicKey(key)
        let subject = try DistinguishedName {
            OrganizationName("CUHK")
            CommonName("1155123456")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: Date(), notValidAfter: Date().addingTimeInterval(365 * 86_400),
            issuer: root.certificate.subject, subject: subject, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([.directoryName(subject)])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: root.keyIdentifier[...])
                AuthorityInformationAccess([
                    .init(method: .ocspServer, location: .uniformResourceIdentifier("http://cuhk.example.edu:9336/"))
                ])
            },
            issuerPrivateKey: root.privateKey)
        let request = WireMessage.uploadRequest(
            .sample(
                certificatePEM: try certificate.serializeAsPEM().pemString,
                assignment: String(repeating: "a", count: 64)))
        let size = request.encoded().readableBytes
        #expect(size > 2_000)
        #expect(size <= BlackboardServer.handshakeFrameLimit)
    }
}
