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
        /// CUHK's timestamp of the report, verified, when the receipt carries one (`timestamp: cuhk`).
        public let timestamp: VerifiedTimestamp?
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
    /// The checks, in order: the bytes are a DER CMS SignedData in the profile of docs/PROTOCOL.md section 5.8, with
    /// the receipt attached and signed attributes (content type, message digest, signing time); the receipt text is
    /// in canonical form; the signature is valid and the signer's certificate chains to `root` and is valid now
    /// (`now`): a receipt is only as good as the key that signed it, and without a timestamp from CUHK nothing but
    /// that key vouches for the time it claims, so once the certificate has expired the receipt is refused; the
    /// signer is a service certificate (P-256 key, serverAuth) for `blackboardName`; the signing time is the commit
    /// time, within the certificate's validity and not in the future; and, when `content` is given, its size and
    /// SHA-256 are the receipt's. Whether the certificate was revoked is not checked here (it needs CUHK's OCSP
    /// responder; see `ReceiptSignerRevocation` in CampusStudent).
    ///
    /// - Parameters:
    ///   - der: The receipt file's bytes.
    ///   - root: The trusted CUHK root (`cuhk.cer`).
    ///   - blackboardName: The service name Blackboard's certificate must carry (a DNS name, any case).
    ///   - content: The report's content, to compare with the receipt.
    ///   - now: The time the signer's chain must be valid at.
    /// - Returns: The document and the signer.
    /// - Throws: ``ReceiptError`` naming the first check that failed.
    public static func verify(
        _ der: some Collection<UInt8>, root: Certificate, blackboardName: String, content: [UInt8]? = nil,
        at now: Date = Date()
    ) async throws(ReceiptError) -> VerifiedReceipt {
        let der = Array(der)
        let profile = try ReceiptProfile.read(der)
        let signature: CMSSignature
        do {
            signature = try CMSSignature(derEncoded: der)
        } catch {
            throw .notCMS("its bytes are not CMS SignedData in DER (it may be cut short, or another kind of file)")
        }
        let document = try ReceiptDocument(parsing: profile.content)
        for certificate in signature.certificates {
            try checkSignatureEncoding(of: certificate)
        }

        let result = await CMS.isValidAttachedSignature(
            signatureBytes: der, trustRoots: CertificateStore([root])
        ) {
            RFC5280Policy(fixedExpiryValidationTime: now)
        }
        let signer: Certificate
        switch result {
        case .success(let valid):
            signer = valid.signer
        case .failure(.invalidCMSBlock(let block)):
            throw .badSignature(signatureProblem(block.reason))
        case .failure(.unableToValidateSigner(let failure)):
            let refused = failure.signer
            let reason =
                if now > refused.notValidAfter {
                    "it expired at \(ReceiptTime.format(refused.notValidAfter)). Without a timestamp from CUHK, the "
                        + "time a receipt claims cannot be trusted once its signer's certificate has expired (whoever "
                        + "kept the expired key could sign a receipt with any time), so the receipt is refused"
                } else if now < refused.notValidBefore {
                    "it is not valid before \(ReceiptTime.format(refused.notValidBefore)) (is this computer's clock "
                        + "right?)"
                } else {
                    "it was not issued by this root, or its signature or extensions are not acceptable"
                }
            throw .untrustedSigner(
                "the signer's certificate (serial \(refused.serialNumber.hex), \(refused.subject)) has no valid chain "
                    + "to the trusted CUHK root \(root.subject) (SHA-256 fingerprint \(root.sha256Fingerprint)) now, "
                    + "at \(ReceiptTime.format(now)): \(reason)")
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

        let signingTime: Date
        do {
            guard let time = try signature.signers.first?.signingTime else {
                throw ReceiptError.badSignature("its signing time cannot be read")
            }
            signingTime = time
        } catch {
            throw .badSignature("its signing time cannot be read")
        }
        let committed = document.committedAt
        guard signingTime == committed else {
            throw .signingTimeMismatch(
                "the receipt was signed at \(ReceiptTime.format(signingTime)) but says the report was committed at "
                    + ReceiptTime.format(committed))
        }
        guard committed >= signer.notValidBefore, committed <= signer.notValidAfter else {
            throw .signingTimeMismatch(
                "the receipt says the report was committed at \(ReceiptTime.format(committed)), when its signer's "
                    + "certificate was not valid (from \(ReceiptTime.format(signer.notValidBefore)) until "
                    + "\(ReceiptTime.format(signer.notValidAfter)))")
        }
        guard committed <= now.addingTimeInterval(clockSkewAllowance) else {
            throw .signingTimeMismatch(
                "the receipt says the report was committed at \(ReceiptTime.format(committed)), which is later than "
                    + "now (\(ReceiptTime.format(now)))")
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
        let timestamp = try await checkTimestamp(of: document, root: root, now: now)
        return VerifiedReceipt(document: document, signer: signer, signerName: signerName, timestamp: timestamp)
    }

    /// Checks CUHK's timestamp of a receipt that carries one (docs/PROTOCOL.md section 5.8, checks 9–11): the token
    /// verifies against `root` now, under CUHK's policy, for the imprint of the receipt's ``TimestampedReport``; the
    /// commit time is its `genTime` cut to whole seconds; and the status is what that time says against the deadline.
    ///
    /// - Returns: The verified token; `nil` for a receipt without one.
    /// - Throws: ``ReceiptError/timestamp(_:)`` naming the first check that failed.
    static func checkTimestamp(of document: ReceiptDocument, root: Certificate, now: Date) async throws(ReceiptError)
        -> VerifiedTimestamp?
    {
        guard case .cuhk(let token) = document.timestamp else { return nil }
        let verified: VerifiedTimestamp
        do {
            verified = try await TimestampVerifier(root: root).verify(
                token, imprint: TimestampedReport(receipt: document).imprint, now: now)
        } catch .imprintMismatch {
            throw .timestamp(
                "the token is not over this receipt's report (its student, assignment, report number and SHA-256): "
                    + "it was made for other bytes")
        } catch {
            throw .timestamp("\(error)")
        }
        guard verified.policy == .cuhk else {
            throw .timestamp("the token is under the policy \(verified.policy), not CUHK's (\(TimestampPolicy.cuhk))")
        }
        let time = ReceiptDocument.wholeSeconds(verified.generationTime)
        guard time == document.committedAt else {
            throw .timestamp(
                "the receipt says the report was committed at \(ReceiptTime.format(document.committedAt)), but CUHK "
                    + "timestamped it at \(verified.generationTimeText)")
        }
        let late = document.deadline.map { time > $0 } ?? false
        if let deadline = document.deadline, late != document.isLate {
            throw .timestamp(
                document.isLate
                    ? "the receipt says late, but CUHK timestamped the report at \(verified.generationTimeText), at or "
                        + "before the deadline \(ReceiptTime.format(deadline)): by CUHK's time it was on time"
                    : "the receipt says on time, but CUHK timestamped the report at \(verified.generationTimeText), "
                        + "after the deadline \(ReceiptTime.format(deadline))")
        }
        if document.deadline == nil, document.isLate {
            throw .timestamp("the receipt says late, but its assignment has no deadline")
        }
        return verified
    }

    /// The document a receipt carries, read without checking its signature (for a store's own receipts and for
    /// pages that show them).
    ///
    /// - Throws: ``ReceiptError`` when the bytes are not a receipt in the profile of docs/PROTOCOL.md section 5.8.
    public static func document(of der: [UInt8]) throws(ReceiptError) -> ReceiptDocument {
        try ReceiptDocument(parsing: ReceiptProfile.read(der).content)
    }

    /// How far in the future a commit time may lie, for clocks that disagree: five minutes.
    public static let clockSkewAllowance: TimeInterval = 5 * 60

    /// The DER of a receipt's signed attributes as its signature covers them (the SET OF, tag `0x31`): the bytes of
    /// the vector in docs/PROTOCOL.md section 7.1.
    ///
    /// - Throws: ``ReceiptError`` when the receipt is not in the receipts' profile.
    public static func signedAttributes(of der: [UInt8]) throws(ReceiptError) -> [UInt8] {
        try ReceiptProfile.read(der).signedAttributes
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
            throw .notAServiceCertificate("one of its extensions (basic constraints or key usages) cannot be read")
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
                "the certificate with serial \(certificate.serialNumber.hex) in the receipt cannot be read")
        }
        guard paddingBits == 0 else {
            throw .untrustedSigner(
                "the signature of the certificate with serial \(certificate.serialNumber.hex) in the receipt is "
                    + "malformed (its bit string has unused bits)")
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
        if reason.hasPrefix("CertificateError.unsupportedSignatureAlgorithm") {
            return "it is signed with an algorithm that receipts do not use (they are signed with ecdsa-with-SHA256)"
        }
        if reason.hasPrefix("Digest and signature algorithm mismatch") || reason.hasPrefix("Digest algorithm mismatch")
        {
            return "its digest algorithm does not match its signature algorithm"
        }
        if reason.hasPrefix("Too many signatures") {
            return "it has more than one signature"
        }
        // What is left are encodings the profile check lets through but swift-certificates cannot read; the library's
        // words name Swift types, so they are not shown.
        return "its signed data cannot be read as a CMS signature"
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
    /// The signer's certificate does not chain to the trusted root now, or has expired.
    case untrustedSigner(String)
    /// CUHK's OCSP responder says the signer's certificate is revoked, or does not know it.
    case revokedSigner(String)
    /// The signer's certificate is not for the expected service name.
    case wrongSignerName(expected: String, found: [String])
    /// The signer's certificate does not have the profile of a service certificate.
    case notAServiceCertificate(String)
    /// The signing-time attribute is not the commit time in the receipt, or that time is not plausible.
    case signingTimeMismatch(String)
    /// The content given to compare is not the content the receipt is for.
    case contentMismatch(String)
    /// CUHK's timestamp in the receipt does not verify, is not over this receipt's report, or contradicts its time or
    /// status.
    case timestamp(String)
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
        case .revokedSigner(let reason):
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
        case .timestamp(let reason):
            "the receipt's CUHK timestamp check failed: \(reason)"
        case .unreadable(let path, let reason):
            "\(path) cannot be read: \(reason)"
        }
    }
}
