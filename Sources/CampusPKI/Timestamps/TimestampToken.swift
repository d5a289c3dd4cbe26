import Crypto
import Foundation
import SwiftASN1
import X509

/// A timestamp token (RFC 3161 section 2.4.2): a CMS SignedData whose content is a DER ``TSTInfo``.
///
/// CUHK's tokens: SignedData version 3, eContentType `id-ct-TSTInfo` (1.2.840.113549.1.9.16.1.4), digest SHA-256,
/// one signer named by issuer and serial number, signed attributes content-type, message-digest and
/// signing-certificate-v2 (RFC 5816: an ESSCertIDv2 with the SHA-256 of the TSA certificate and its issuer and
/// serial), signature `ecdsa-with-SHA256` by the TSA certificate's P-256 key, and the TSA certificate in
/// `certificates` when the request asked for it (`certReq`).
public struct TimestampToken: Sendable, Hashable {
    /// `id-ct-TSTInfo`.
    public static let contentType: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 16, 1, 4]
    /// The largest token read, in bytes (CUHK's are about 1.2 KB with the certificate).
    public static let maximumSize = 64 * 1024

    /// The token's DER (a CMS ContentInfo).
    public let derEncoded: [UInt8]
    /// What the token states. Read from the signed content, but not yet checked: see ``TimestampVerifier``.
    public let info: TSTInfo
    let message: SignedDataMessage

    /// The certificates the token carries.
    public var certificates: [Certificate] { message.certificates.map(\.certificate) }

    /// Reads a token.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` when it is not a SignedData over a DER TSTInfo, or
    ///   ``TimestampError/unsupportedAlgorithm(_:)``.
    public init(derEncoded bytes: [UInt8]) throws(TimestampError) {
        let message = try SignedDataMessage(derEncoded: bytes, maximumSize: Self.maximumSize, what: "timestamp token")
        guard message.contentType == Self.contentType else {
            throw .malformed("the signed content is of type \(message.contentType), not id-ct-TSTInfo")
        }
        guard let content = message.content else { throw .malformed("the token does not contain its TSTInfo") }
        self.info = try TSTInfo(derEncoded: content)
        self.message = message
        self.derEncoded = bytes
    }

    /// Signs `info` as a token.
    ///
    /// - Parameters:
    ///   - info: What the token states.
    ///   - certificate: The TSA certificate.
    ///   - privateKey: Its key.
    ///   - includeCertificate: Whether the token carries the certificate (the request's `certReq`).
    /// - Throws: When the key is not the certificate's, or the TSTInfo cannot be encoded.
    public static func sign(
        _ info: TSTInfo, certificate: Certificate, privateKey: P256.Signing.PrivateKey, includeCertificate: Bool
    ) throws -> TimestampToken {
        let certificateDER = try SignedDataMessage.derOf { try $0.serialize(certificate) }
        let essCertificate = try SigningCertificateV2(certificate: certificate, der: certificateDER)
        let message = try SignedDataMessage.sign(
            content: try info.derEncoded(), contentType: contentType,
            extraSignedAttributes: [
                .init(type: SigningCertificateV2.attributeType, values: [essCertificate.derEncoded()])
            ],
            certificate: certificate, privateKey: privateKey, includeCertificate: includeCertificate)
        return try TimestampToken(derEncoded: message.derEncoded())
    }
}
