import CampusPKI
import Foundation
import X509
import _CryptoExtras

/// RSA key generation is slow in debug builds; tests share a few keys.
enum TestKeys {
    static let student = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let other = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
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
    var template = Array((NSTemporaryDirectory() + "campuspki-test-XXXXXX").utf8CString)
    guard let path = mkdtemp(&template) else { throw CampusError(.internalError, "mkdtemp failed") }
    return String(cString: path)
}
