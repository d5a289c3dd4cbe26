import Crypto
import Foundation
import SwiftASN1
@_spi(CMS) @_spi(FixedExpiryValidationTime) import X509

/// A receipt as Blackboard hands it out: the canonical ``ReceiptDocument`` inside a CMS SignedData (RFC 5652),
/// DER, signed with Blackboard's service certificate key (ECDSA P-256 with SHA-256).
///
/// The document is attached, and the SignedData carries Blackboard's certificate, so the file alone and CUHK's root
/// are enough to check it offline, with ``verify(_:root:blackboardName:content:)`` or with OpenSSL:
///
/// ```
/// openssl cms -verify -inform DER -in receipt.p7s -CAfile cuhk.cer -purpose any -out receipt.txt
/// ```
///
/// (`-purpose any` because Blackboard's certificate is for TLS servers, not for S/MIME e-mail.)
public enum SignedReceipt {
    /// A receipt that passed every check of ``SignedReceipt/verify(_:root:blackboardName:content:)``.
    public struct VerifiedReceipt: Sendable, Hashable {
        /// What the receipt states.
        public let document: ReceiptDocument
        /// Blackboard's certificate that signed it.
        public let signer: Certificate
        /// The signer's DNS name that matched the expected service name, as the certificate spells it.
        public let signerName: String
    }

    /// The largest receipt file read: a receipt is one certificate and a page of text, a few kilobytes.
    public static let maximumFileSize = 1 << 20

    /// The DER of a receipt file: DER as it is, or PEM (`-----BEGIN CMS-----` or `-----BEGIN PKCS7-----`) decoded.
    ///
    /// - Throws: ``ReceiptError/notCMS(_:)`` for PEM that cannot be decoded or has another label.
    public static func der(fromFile bytes: [UInt8]) throws(ReceiptError) -> [UInt8] {
        let start = bytes.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
        guard start.starts(with: "-----BEGIN ".utf8) else { return bytes }
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw .notCMS("it starts like PEM, but its base64 cannot be decoded")
        }
        guard document.discriminator == "CMS" || document.discriminator == "PKCS7" else {
            throw .notCMS("it is a PEM \(document.discriminator), not a CMS or PKCS7 block")
        }
        return document.derBytes
    }

    /// Reads a whole file, up to `limit` bytes.
    ///
    /// - Throws: ``ReceiptError/unreadable(path:reason:)``.
    public static func readFile(_ path: String, limit: Int = maximumFileSize) throws(ReceiptError) -> [UInt8] {
        guard SecureFile.exists(path) else { throw .unreadable(path: path, reason: "the file does not exist") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        guard data.count <= limit else {
            throw .unreadable(path: path, reason: "it has \(data.count) bytes, more than the \(limit) allowed")
        }
        return Array(data)
    }

    /// Signs a receipt.
    ///
    /// - Parameters:
    ///   - document: What Blackboard states; its canonical bytes are the signed content.
    ///   - certificate: Blackboard's service certificate, carried in the receipt.
    ///   - privateKey: The certificate's key.
    /// - Returns: A CMS SignedData in DER, content attached, with a signing-time attribute of
    ///   `document.committedAt`.
    /// - Throws: ``ReceiptError/notAServiceCertificate(_:)`` when the key does not belong to the certificate, or
    ///   an encoding error (a commit time after 2049 cannot be a CMS signing time).
    public static func sign(
        _ document: ReceiptDocument, certificate: Certificate, privateKey: P256.Signing.PrivateKey
    ) throws -> [UInt8] {
        guard certificate.publicKey == Certificate.PublicKey(privateKey.publicKey) else {
            throw ReceiptError.notAServiceCertificate("the private key does not belong to the signing certificate")
        }
        return try CMS.sign(
            document.canonicalBytes,
            signatureAlgorithm: .ecdsaWithSHA256,
            certificate: certificate,
            privateKey: Certificate.PrivateKey(privateKey),
            signingTime: document.committedAt,
            detached: false
        )
    }

    /// Checks a receipt offline against CUHK's root.
    ///
    /// The checks, in order: the bytes are a DER CMS SignedData with the receipt attached; the receipt text is in
    /// canonical form; the signature is valid and the signer's certificate chains to `root`, valid when the report
    /// was committed (so a receipt outlives Blackboard's certificate); the signer is a service certificate (P-256
    /// key, serverAuth) for `blackboardName`; the signing time, if any, is the commit time; and, when `content` is
    /// given, its size and SHA-256 are the receipt's.
    ///
    /// - Parameters:
    ///   - der: The receipt file's bytes.
    ///   - root: The trusted CUHK root (`cuhk.cer`).
    ///   - blackboardName: The service name Blackboard's certificate must carry (a DNS name, any case).
    ///   - content: The report's content, to compare with the receipt.
    /// - Returns: The document and the signer.
    /// - Throws: ``ReceiptError`` naming the first check that failed.
    public static func verify(
        _ der: some Collection<UInt8>, root: Certificate, blackboardName: String, content: [UInt8]? = nil
    ) async throws(ReceiptError) -> VerifiedReceipt {
        let der = Array(der)
        let signature: CMSSignature
        do {
            signature = try CMSSignature(derEncoded: der)
        } catch {
            throw .notCMS("its bytes are not CMS SignedData in DER (it may be cut short, or another kind of file)")
        }
        guard let attached = try attachedContent(of: der) else {
            throw .notCMS("the signed data does not contain the receipt text (it is a detached signature)")
        }
        let document = try ReceiptDocument(parsing: attached)
        for certificate in signature.certificates {
            try checkSignatureEncoding(of: certificate)
        }

        let result = await CMS.isValidAttachedSignature(
            signatureBytes: der, trustRoots: CertificateStore([root])
        ) {
            RFC5280Policy(fixedExpiryValidationTime: document.committedAt)
        }
        let signer: Certificate
        switch result {
        case .success(let valid):
            signer = valid.signer
        case .failure(.invalidCMSBlock(let block)):
            throw .badSignature(signatureProblem(block.reason))
        case .failure(.unableToValidateSigner(let failure)):
            let refused = failure.signer
            let committed = document.committedAt
            let reason =
                if committed < refused.notValidBefore {
                    "it was not yet valid when the report was committed (valid from "
                        + "\(ReceiptTime.format(refused.notValidBefore)))"
                } else if committed > refused.notValidAfter {
                    "it had expired when the report was committed (valid until "
                        + "\(ReceiptTime.format(refused.notValidAfter)))"
                } else {
                    "it was not issued by this root, or its signature or extensions are not acceptable"
                }
            throw .untrustedSigner(
                "the signer's certificate (serial \(refused.serialNumber.hex), \(refused.subject)) has no valid chain "
                    + "to the trusted CUHK root \(root.subject) (SHA-256 fingerprint \(root.sha256Fingerprint)) at "
                    + "the commit time \(ReceiptTime.format(committed)): \(reason)")
        }

        try checkServiceProfile(of: signer)
        let names = (try? signer.extensions.subjectAlternativeNames)?.flatMap { names in
            names.compactMap { name -> String? in
                if case .dnsName(let dnsName) = name { dnsName } else { nil }
            }
        }
        guard let names, let signerName = names.first(where: { $0.lowercased() == blackboardName.lowercased() })
        else {
            throw .wrongSignerName(expected: blackboardName, found: names ?? [])
        }

        let signingTime: Date?
        do {
            signingTime = try signature.signers.first?.signingTime
        } catch {
            throw .badSignature("the signing-time attribute cannot be read (\(error))")
        }
        if let signingTime, signingTime != document.committedAt {
            throw .signingTimeMismatch(
                "the receipt was signed at \(ReceiptTime.format(signingTime)) but says the report was committed at "
                    + ReceiptTime.format(document.committedAt))
        }

        if let content {
            guard UInt64(content.count) == document.totalBytes else {
                throw .contentMismatch(
                    "the content has \(content.count) bytes, but the receipt is for \(document.totalBytes) bytes")
            }
            let digest = Array(SHA256.hash(data: content))
            guard digest == document.contentSHA256 else {
                throw .contentMismatch(
                    "the content's SHA-256 is \(digest.hexString), but the receipt is for "
                        + document.contentSHA256.hexString)
            }
        }
        return VerifiedReceipt(document: document, signer: signer, signerName: signerName)
    }

    /// Whether `signer` has the profile of a service certificate: a P-256 key, not a CA, `digitalSignature` if it
    /// has a key usage, and the serverAuth extended key usage.
    static func checkServiceProfile(of signer: Certificate) throws(ReceiptError) {
        guard P256.Signing.PublicKey(signer.publicKey) != nil else {
            throw .notAServiceCertificate(
                "its key is not an ECDSA P-256 key (a student certificate, with an RSA key, cannot sign receipts)")
        }
        let basicConstraints: BasicConstraints?
        let keyUsage: KeyUsage?
        let extendedKeyUsage: ExtendedKeyUsage?
        do {
            basicConstraints = try signer.extensions.basicConstraints
            keyUsage = try signer.extensions.keyUsage
            extendedKeyUsage = try signer.extensions.extendedKeyUsage
        } catch {
            throw .notAServiceCertificate("an extension of it cannot be read (\(error))")
        }
        if case .some(.isCertificateAuthority) = basicConstraints {
            throw .notAServiceCertificate("it is a certificate authority's certificate")
        }
        if let keyUsage, !keyUsage.digitalSignature {
            throw .notAServiceCertificate("its key usage does not allow digital signatures")
        }
        guard let extendedKeyUsage, extendedKeyUsage.contains(.serverAuth) else {
            throw .notAServiceCertificate("it is not for a server (no serverAuth extended key usage)")
        }
    }

    /// Refuses a certificate whose signature BIT STRING has unused bits.
    ///
    /// swift-certificates reads such a signature as the bytes without the bits, so the unused-bits count could change
    /// without the check noticing; OpenSSL refuses it ("invalid bit string bits left"), and so does this.
    static func checkSignatureEncoding(of certificate: Certificate) throws(ReceiptError) {
        let paddingBits: Int
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            paddingBits = try DER.sequence(DER.parse(serializer.serializedBytes), identifier: .sequence) { nodes in
                _ = nodes.next()  // tbsCertificate
                _ = nodes.next()  // signatureAlgorithm
                return try ASN1BitString(derEncoded: &nodes).paddingBits
            }
        } catch {
            throw .untrustedSigner(
                "the certificate with serial \(certificate.serialNumber.hex) in the receipt cannot be read (\(error))")
        }
        guard paddingBits == 0 else {
            throw .untrustedSigner(
                "the signature of the certificate with serial \(certificate.serialNumber.hex) in the receipt is "
                    + "malformed (its bit string has unused bits)")
        }
    }

    /// The eContent of a DER ContentInfo holding a SignedData, or `nil` when there is none (detached).
    static func attachedContent(of der: [UInt8]) throws(ReceiptError) -> [UInt8]? {
        let signedDataType: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 7, 2]
        do {
            let root = try DER.parse(der)
            return try DER.sequence(root, identifier: .sequence) { nodes -> [UInt8]? in
                guard try ASN1ObjectIdentifier(derEncoded: &nodes) == signedDataType else {
                    throw ASN1Error.invalidASN1Object(reason: "not a SignedData")
                }
                return try DER.explicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                    try DER.sequence(node, identifier: .sequence) { nodes -> [UInt8]? in
                        _ = try Int(derEncoded: &nodes)  // version
                        _ = nodes.next()  // digestAlgorithms
                        guard let encapsulated = nodes.next() else {
                            throw ASN1Error.invalidASN1Object(reason: "no encapsulated content info")
                        }
                        while nodes.next() != nil {}  // certificates, CRLs, signer infos: read by CMSSignature
                        return try DER.sequence(encapsulated, identifier: .sequence) { nodes in
                            _ = try ASN1ObjectIdentifier(derEncoded: &nodes)
                            return try DER.optionalExplicitlyTagged(
                                &nodes, tagNumber: 0, tagClass: .contextSpecific
                            ) { node in
                                Array(try ASN1OctetString(derEncoded: node).bytes)
                            }
                        }
                    }
                }
            }
        } catch {
            throw .notCMS("its signed data cannot be read (\(error))")
        }
    }

    /// A sentence for swift-certificates' reason that a CMS block is not valid.
    static func signatureProblem(_ reason: String) -> String {
        if reason.hasPrefix("Invalid signature from signing certificate") {
            return "the signature is not valid for the receipt text: it was changed after signing, "
                + "or was not signed with the key of the certificate it carries"
        }
        if reason == "Message digest mismatch" {
            return "the receipt text is not the text that was signed (its digest differs from the signed digest)"
        }
        if reason == "Unable to locate signing certificate" {
            return "the receipt does not carry the certificate of its signer"
        }
        return "the signed data is not valid (\(reason))"
    }
}

/// Why a receipt does not verify, or cannot be read.
public enum ReceiptError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not a CMS SignedData in DER with the receipt attached.
    case notCMS(String)
    /// The receipt text is not a receipt in canonical form, or a field is not valid.
    case malformedDocument(String)
    /// The signature does not match the receipt text, or the signed data is damaged.
    case badSignature(String)
    /// The signer's certificate does not chain to the trusted root at the commit time.
    case untrustedSigner(String)
    /// The signer's certificate is not for the expected service name.
    case wrongSignerName(expected: String, found: [String])
    /// The signer's certificate does not have the profile of a service certificate.
    case notAServiceCertificate(String)
    /// The signing-time attribute is not the commit time in the receipt.
    case signingTimeMismatch(String)
    /// The content given to compare is not the content the receipt is for.
    case contentMismatch(String)
    /// A file could not be read.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .notCMS(let reason):
            "the file is not a signed receipt (CMS SignedData with the receipt text inside): \(reason)"
        case .malformedDocument(let reason):
            "the receipt text is not a valid CampusPKI receipt: \(reason)"
        case .badSignature(let reason):
            "the receipt's signature check failed: \(reason)"
        case .untrustedSigner(let reason):
            "the receipt's signer is not trusted: \(reason)"
        case .wrongSignerName(let expected, let found):
            "the receipt is signed by a certificate for "
                + (found.isEmpty ? "no DNS name" : found.map { "\"\($0)\"" }.joined(separator: ", "))
                + ", not for the Blackboard service \"\(expected)\""
        case .notAServiceCertificate(let reason):
            "the receipt's signer is not a Blackboard service certificate: \(reason)"
        case .signingTimeMismatch(let reason):
            "the receipt's signing time check failed: \(reason)"
        case .contentMismatch(let reason):
            "the content does not match the receipt: \(reason)"
        case .unreadable(let path, let reason):
            "\(path) cannot be read: \(reason)"
        }
    }
}
