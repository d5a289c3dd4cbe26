import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Roots, TSA certificates and a small in-process TSA, made for the timestamp and manifest tests.
enum TimestampTestPKI {
    static let rootKey = SignedReceiptTests.PKI.rootKey
    static let root = SignedReceiptTests.PKI.root
    static let otherRoot = SignedReceiptTests.PKI.otherRoot
    static let tsaKey = P256.Signing.PrivateKey()
    static let tsa = try! authority()

    /// A TSA certificate with CUHK's profile (or a variation of it), issued by `issuerKey` under the root's name.
    static func authority(
        key: P256.Signing.PrivateKey = tsaKey, serial: Certificate.SerialNumber = .init(bytes: [0x40, 0x01]),
        usages: [ExtendedKeyUsage.Usage] = [.timeStamping], criticalUsage: Bool = true,
        notBefore: Date = Date().addingTimeInterval(-86_400), notAfter: Date = Date().addingTimeInterval(365 * 86_400),
        issuerKey: _RSA.Signing.PrivateKey = SignedReceiptTests.PKI.rootKey
    ) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: serial,
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: SignedReceiptTests.PKI.rootName,
            subject: try DistinguishedName {
                OrganizationName("CUHK")
                CommonName("CUHK Timestamp Authority")
            },
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                if criticalUsage {
                    Critical(try ExtendedKeyUsage(usages))
                } else {
                    try ExtendedKeyUsage(usages)
                }
            },
            issuerPrivateKey: Certificate.PrivateKey(issuerKey)
        )
    }

    /// A token as CUHK's TSA makes it.
    static func token(
        for imprint: MessageImprint, nonce: [UInt8]? = [0x01, 0x02, 0x03], at time: Date = Date(),
        certificate: Certificate = tsa, key: P256.Signing.PrivateKey = tsaKey, includeCertificate: Bool = true,
        serial: [UInt8] = [0x11, 0x22]
    ) throws -> TimestampToken {
        let info = try TSTInfo(
            policy: .cuhk, messageImprint: imprint, serialNumber: serial, generationTime: time,
            accuracy: try TimestampAccuracy(seconds: 1), nonce: nonce)
        return try TimestampToken.sign(
            info, certificate: certificate, privateKey: key, includeCertificate: includeCertificate)
    }

    static let data = Array("The report of 1155123456, as handed in.\n".utf8)

    /// A TSA in process, answering as CUHK's does for a valid request.
    struct Authority: TimestampProvider {
        var certificate: Certificate = TimestampTestPKI.tsa
        var key: P256.Signing.PrivateKey = TimestampTestPKI.tsaKey
        var time: Date? = nil

        func reply(to request: [UInt8]) async throws -> [UInt8] {
            let parsed = try TimestampRequest(derEncoded: request)
            let token = try TimestampTestPKI.token(
                for: parsed.messageImprint, nonce: parsed.nonce, at: time ?? Date(), certificate: certificate,
                key: key, includeCertificate: parsed.certificateRequested,
                serial: Array(Certificate.SerialNumber().bytes))
            return TimestampResponse.granted(token).derEncoded()
        }
    }
}

extension Array where Element == UInt8 {
    /// The bytes with the first occurrence of `pattern` changed in its last byte.
    func flippingLastByte(of pattern: [UInt8]) -> [UInt8]? {
        guard let range = firstRange(of: pattern) else { return nil }
        var copy = self
        copy[range.upperBound - 1] ^= 0x01
        return copy
    }
}
