import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Checks a timestamp token against a trusted root: the signature, the signer's chain to the root and its TSA
/// profile, the signing-certificate-v2 binding, the message imprint and, when one was sent, the nonce.
///
/// The checks, in order (docs/PROTOCOL.md section 9.3): the token is a DER SignedData over a DER TSTInfo; the signer's
/// certificate is carried (or given) and the signature is ECDSA P-256 with SHA-256 over signed attributes that state
/// the content type `id-ct-TSTInfo` and the content's SHA-256; the signing-certificate-v2 attribute names that
/// certificate; the certificate has the TSA profile (``TimestampAuthorityPolicy``) and chains to the root at the
/// validation time; the imprint is the expected one; the nonce is the one sent.
public struct TimestampVerifier: Sendable {
    /// When the TSA certificate must be valid.
    public enum ValidationTime: Sendable, Hashable {
        /// Now (``verify(_:imprint:nonce:now:)``'s `now`), as OpenSSL checks it: a token stops verifying when its
        /// TSA certificate expires.
        case current
        /// At the token's own `genTime`: for a token kept longer than the certificate lives. Only the TSA's
        /// signature vouches for that time, so a TSA key stolen later could back-date tokens that pass.
        case generationTime
        case fixed(Date)
    }

    /// The trusted root (`cuhk.cer`).
    public var root: Certificate
    public var validationTime: ValidationTime
    /// Certificates to look for the signer among, besides those the token carries (for a token requested without
    /// `certReq`).
    public var additionalCertificates: [Certificate]

    public init(
        root: Certificate, validationTime: ValidationTime = .current, additionalCertificates: [Certificate] = []
    ) {
        self.root = root
        self.validationTime = validationTime
        self.additionalCertificates = additionalCertificates
    }

    /// Verifies a token for the expected imprint.
    ///
    /// - Parameters:
    ///   - token: The token's DER.
    ///   - imprint: What the token must be for.
    ///   - nonce: The nonce sent in the request, (big-endian, no leading zeros); `nil` checks none.
    ///   - now: The current time, for ``ValidationTime/current``.
    /// - Returns: What the token states.
    /// - Throws: ``TimestampError`` naming the first check that failed.
    public func verify(
        _ token: [UInt8], imprint: MessageImprint, nonce: [UInt8]? = nil, now: Date = Date()
    ) async throws(TimestampError) -> VerifiedTimestamp {
        let parsed = try TimestampToken(derEncoded: token)
        let verified = try await verifySignature(of: parsed, now: now)
        let stated = parsed.info.messageImprint
        guard stated.hashAlgorithm == imprint.hashAlgorithm else {
            throw .imprintMismatch(
                "the token is for a \(stated.hashAlgorithm.rawValue) digest, not a \(imprint.hashAlgorithm.rawValue) one"
            )
        }
        guard stated.hashedMessage == imprint.hashedMessage else {
            throw .imprintMismatch(
                "the token is for the \(stated.hashAlgorithm.rawValue) digest \(stated.hashedMessage.hexString), not "
                    + imprint.hashedMessage.hexString)
        }
        if let nonce {
            guard let found = parsed.info.nonce else {
                throw .nonceMismatch("the request sent a nonce, but the token has none")
            }
            guard found == nonce else {
                throw .nonceMismatch("the token's nonce \(found.hexString) is not the nonce sent, \(nonce.hexString)")
            }
        }
        return verified
    }

    /// Verifies a token for `data`, hashed with the algorithm the token names.
    public func verify(
        _ token: [UInt8], data: some DataProtocol, nonce: [UInt8]? = nil, now: Date = Date()
    ) async throws(TimestampError) -> VerifiedTimestamp {
        let parsed = try TimestampToken(derEncoded: token)
        let algorithm = parsed.info.messageImprint.hashAlgorithm
        return try await verify(
            token, imprint: MessageImprint(of: data, hashAlgorithm: algorithm), nonce: nonce, now: now)
    }

    /// Verifies a TSA's reply to `request`: the status is granted, and the token is for the request's imprint and
    /// nonce.
    ///
    /// - Returns: The token's DER and what it states.
    /// - Throws: ``TimestampError/rejected(_:)`` for a refusal, or the token's first failed check.
    public func verify(
        response: [UInt8], for request: TimestampRequest, now: Date = Date()
    ) async throws(TimestampError) -> (token: [UInt8], timestamp: VerifiedTimestamp) {
        let reply = try TimestampResponse(derEncoded: response)
        let token = try reply.grantedToken()
        let verified = try await verify(
            token.derEncoded, imprint: request.messageImprint, nonce: request.nonce, now: now)
        if let policy = request.policy, policy != verified.policy {
            throw .unacceptedPolicy("the token's policy \(verified.policy) is not the one asked for, \(policy)")
        }
        return (token.derEncoded, verified)
    }

    /// Every check but the imprint and the nonce.
    func verifySignature(of token: TimestampToken, now: Date) async throws(TimestampError) -> VerifiedTimestamp {
        let message = token.message
        guard let signer = message.signerCertificate(among: additionalCertificates) else {
            throw .untrustedSigner(
                "the token does not carry its signer's certificate (ask with certReq, or give the TSA certificate)")
        }
        try message.checkSignature(by: signer, expectedContentType: TimestampToken.contentType)
        guard let essNode = try message.signedValue(SigningCertificateV2.attributeType, name: "signing-certificate-v2")
        else {
            throw .certificateBinding("the token has no signing-certificate-v2 attribute (RFC 5816 ESSCertIDv2)")
        }
        let binding = try SigningCertificateV2(derEncoded: essNode)
        let signerDER =
            message.certificates.first { $0.certificate == signer }?.der
            ?? (try? SignedDataMessage.derOf { try $0.serialize(signer) }) ?? []
        if let mismatch = binding.mismatch(with: signer, der: signerDER) {
            throw .certificateBinding(mismatch)
        }
        if let failure = TimestampAuthorityPolicy().failure(for: signer) {
            throw .notATimestampAuthority(
                "the certificate with serial \(signer.serialNumber.hex) (\(signer.subject)): \(failure)")
        }
        let time: Date =
            switch validationTime {
            case .current: now
            case .generationTime: token.info.generationTime
            case .fixed(let date): date
            }
        try await checkChain(of: signer, at: time, intermediates: message.certificates.map(\.certificate))
        let info = token.info
        return VerifiedTimestamp(
            generationTime: info.generationTime, generationTimeText: info.generationTimeText,
            serialNumber: info.serialNumber, accuracy: info.accuracy, policy: info.policy,
            messageImprint: info.messageImprint, nonce: info.nonce, signer: signer)
    }

    private func checkChain(of signer: Certificate, at time: Date, intermediates: [Certificate])
        async throws(TimestampError)
    {
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            TimestampAuthorityPolicy()
            RFC5280Policy(fixedExpiryValidationTime: time)
        }
        let result = await verifier.validate(leaf: signer, intermediates: CertificateStore(intermediates))
        guard case .couldNotValidate = result else { return }
        let reason =
            if time < signer.notValidBefore {
                "it is not valid before \(TimestampTime.format(signer.notValidBefore))"
            } else if time > signer.notValidAfter {
                "it expired at \(TimestampTime.format(signer.notValidAfter))"
            } else {
                "it was not issued by this root, or its signature or extensions are not acceptable"
            }
        throw .untrustedSigner(
            "the TSA certificate (serial \(signer.serialNumber.hex), \(signer.subject)) has no valid chain to the "
                + "trusted root \(root.subject) (SHA-256 fingerprint \(root.sha256Fingerprint)) at "
                + "\(TimestampTime.format(time)): \(reason)")
    }
}
