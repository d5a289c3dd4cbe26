import CampusPKI
import CampusTestSupport
import Foundation
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

/// RSA key generation is slow in debug builds; tests share a few keys.
enum TestKeys {
    static let student = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let other = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let third = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let weak = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
}

func makeCSR(
    cn: [String] = ["1155123456"],
    key: _RSA.Signing.PrivateKey = TestKeys.student,
    algorithm: Certificate.SignatureAlgorithm = .sha256WithRSAEncryption
) throws -> String {
    let subject = DistinguishedName(
        cn.map { RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: $0)) }
    )
    let request = try CertificateSigningRequest(
        version: .v1,
        subject: subject,
        privateKey: Certificate.PrivateKey(key),
        attributes: .init(),
        signatureAlgorithm: algorithm
    )
    return try request.serializeAsPEM().pemString
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-test")
}

/// The transcript hash the unit tests' enrollment channels stand for.
let channelDigest = [UInt8](repeating: 0xab, count: 32)

/// The proof of `code` for `csrPEM` as the Student makes it, for the channel `digest`; empty without a code.
func codeProof(_ code: EnrollmentCode?, csrPEM: String, digest: [UInt8] = channelDigest) throws -> [UInt8] {
    guard let code else { return [] }
    return EnrollmentCodeProof.make(
        code: code, transcriptDigest: digest, csrDER: try PEMDocument(pemString: csrPEM).derBytes)
}

/// A clock a test moves by hand.
final class TestClock: Sendable {
    private let time: Mutex<Date>

    init(_ start: Date) { time = Mutex(start) }

    var now: Date { time.withLock { $0 } }

    func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
