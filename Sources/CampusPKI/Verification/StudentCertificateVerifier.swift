import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Seed step 3's check of cert 2, used by Blackboard for every session and by the Student on what CUHK returns.
///
/// swift-certificates' `Verifier` builds the chain to the trusted root and applies CampusPKI's rules as
/// `VerifierPolicy` types next to `RFC5280Policy`. A failure carries the code of the rule that failed.
public struct StudentCertificateVerifier: Sendable {
    /// The root certificate every student certificate must chain to (`cuhk.cer`).
    public var root: Certificate
    /// The smallest RSA key accepted.
    public var minimumKeyBits: Int
    /// The OCSP check of a certificate that names a responder; `nil` checks none.
    public var revocation: RevocationPolicy?

    public init(root: Certificate, minimumKeyBits: Int = 2048, revocation: RevocationPolicy? = nil) {
        self.root = root
        self.minimumKeyBits = minimumKeyBits
        self.revocation = revocation
    }

    /// Parses and verifies a student certificate.
    ///
    /// - Parameters:
    ///   - certificatePEM: Cert 2, PEM.
    ///   - studentID: The SID the certificate must be for.
    ///   - time: The validation time.
    /// - Returns: The verified certificate.
    /// - Throws: ``CampusError`` with the code of the failed rule.
    public func verify(certificatePEM: String, for studentID: StudentID, at time: Date = Date()) async throws
        -> Certificate
    {
        let leaf = try Self.parseCertificate(pem: certificatePEM, minimumKeyBits: minimumKeyBits)
        let minimumKeyBits = minimumKeyBits
        let revocation = revocation
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            ValidityPeriodPolicy(validationTime: time)
            ClientCertificatePolicy()
            MinimumRSAKeySizePolicy(minimumBits: minimumKeyBits)
            StudentIDBindingPolicy(expected: studentID)
            RFC5280Policy(fixedExpiryValidationTime: time)
            // Last, so that a certificate refused for any other reason costs no request to the responder.
            if let revocation { revocation }
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore()) {
        case .validCertificate:
            return leaf
        case .couldNotValidate(let failures):
            guard let first = failures.first else {
                throw CampusError(
                    .untrustedCertificate,
                    "no valid chain to the trusted root \(root.subject) (SHA-256 fingerprint "
                        + "\(root.sha256Fingerprint)): another issuer, a bad signature, "
                        + "or a critical extension CampusPKI does not handle"
                )
            }
            throw Self.error(from: "\(first.policyFailureReason)")
        }
    }

    /// Parses a PEM certificate, telling a too-small RSA key apart from other damage.
    ///
    /// - Throws: ``CampusError`` with `malformedCertificate` or `keyTooSmall`.
    public static func parseCertificate(pem: String, minimumKeyBits: Int = 2048) throws -> Certificate {
        let document: PEMDocument
        do {
            document = try PEMDocument.parse(pem, expecting: Certificate.defaultPEMDiscriminator)
        } catch {
            throw CampusError(.malformedCertificate, "the certificate is not valid PEM")
        }
        guard document.discriminator == Certificate.defaultPEMDiscriminator else {
            throw CampusError(.malformedCertificate, "expected a CERTIFICATE PEM block, got \(document.discriminator)")
        }
        let derBytes = document.derBytes
        do {
            return try Certificate(derEncoded: derBytes)
        } catch {
            if let bits = RSAKeyInspector.keySize(inCertificate: derBytes), bits < minimumKeyBits {
                throw CampusError(.keyTooSmall, "the key has \(bits) bits; at least \(minimumKeyBits) are required")
            }
            throw CampusError(.malformedCertificate, "the certificate is not a valid X.509 certificate", cause: error)
        }
    }

    /// Turns a policy's reason (`code-name: text`) back into a ``CampusError``.
    static func error(from reason: String) -> CampusError {
        for code in CampusError.Code.allCases where reason.hasPrefix(code.name + ": ") {
            return CampusError(code, String(reason.dropFirst(code.name.count + 2)))
        }
        return CampusError(.untrustedCertificate, reason)
    }
}
