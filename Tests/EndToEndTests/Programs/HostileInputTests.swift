import CampusAuthority
import CampusPKI
import Foundation
import Testing
import X509
import _CryptoExtras

/// Values from a peer never reach a log or terminal line raw.
@Suite struct HostileInputTests {
    static let forged = "2026-01-01T00:00:00+0000 critical cuhk: forged line"

    @Test func controlCharactersFromPeersNeverReachTheServersOutputRaw() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let name = "1155123456\n\(Self.forged)\u{1B}[2J\u{07}"
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: DistinguishedName([
                RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: name))
            ]),
            privateKey: Certificate.PrivateKey(TestKeys.pool[0]),
            attributes: .init(),
            signatureAlgorithm: .sha256WithRSAEncryption
        )
        let cuhkAnswer = try await EnrollmentExchange.refusal(
            servers.cuhkAddress, csrPEM: try request.serializeAsPEM().pemString)
        #expect(cuhkAnswer == .invalidSubject)
        let blackboardAnswer = try await RawClient.errorCode(
            servers.blackboardAddress,
            sending: RawClient.frame(
                .uploadRequest(
                    UploadRequest(
                        requestText: "SID:1155123456\n\(Self.forged)\u{1B}]0;title\u{07}", certificatePEM: "x",
                        assignment: "", keyShare: Array(repeating: 9, count: 32), nonce: Array(repeating: 1, count: 32))
                )))
        #expect(blackboardAnswer == .malformedRequest)

        for server in [servers.cuhk, servers.blackboard] {
            let bytes = server.rawOutput
            let control = bytes.filter { ($0 < 0x20 && $0 != 0x0A) || $0 == 0x7F }
            #expect(control.isEmpty, "raw control bytes \(control) in the output")
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.split(separator: "\n").contains { $0.hasPrefix("2026-01-01T00:00:00+0000") })
            #expect(text.contains("\\n2026-01-01T00:00:00"), "the value is shown escaped")
        }
    }
}
