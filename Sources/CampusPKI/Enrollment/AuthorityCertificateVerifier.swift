import Crypto
import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// The Student's check of CUHK's enrollment certificate: it must chain to the trusted CUHK root, be valid now, be a
/// server's certificate for the name `cuhk` (``EnrollmentChannel/authorityName``), and hold an ECDSA P-256 key.
///
/// The checks run one by one in a fixed order so a failure names the first one that failed; swift-certificates'
/// `Verifier` then applies RFC 5280 to the chain with ``ServerCertificatePolicy``. A student's certificate fails the
/// server-auth check, and Blackboard's the name check.
public struct AuthorityCertificateVerifier: Sendable {
    /// The root the Student trusts.
    public var root: Certificate
    /// The DNS name CUHK's certificate must carry.
    public var expectedName: String

    public init(root: Certificate, expectedName: String = EnrollmentChannel.authorityName) {
        self.root = root
        self.expectedName = expectedName
    }

    /// The verified certificate and its key.
    public func verify(certificatePEM: String, at time: Date = Date()) async throws(AuthorityAuthenticationError)
        -> (Certificate, P256.Signing.PublicKey)
    {
        let leaf: Certificate
        do {
            leaf = try Certificate(pemText: certificatePEM)
        } catch {
            throw .init(.certificate, "CUHK's certificate is not a valid PEM X.509 certificate")
        }
        // Made only for an error: the name's text and the fingerprint cost more than the checks that pass.
        func rootName() -> String { "the CUHK root \(root.subject) (SHA-256 fingerprint \(root.sha256Fingerprint))" }
        guard leaf.issuer == root.subject, root.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            throw .init(.issuer, "CUHK's certificate (issuer \(leaf.issuer)) was not issued by \(rootName())")
        }
        guard leaf != root else {
            throw .init(.serverAuth, "the peer presented the CUHK root itself, not its enrollment certificate")
        }
        if time > leaf.notValidAfter {
            throw .init(.validity, "CUHK's certificate expired at \(leaf.notValidAfter.formatted(.iso8601))")
        }
        if time < leaf.notValidBefore {
            throw .init(.validity, "CUHK's certificate is not valid before \(leaf.notValidBefore.formatted(.iso8601))")
        }
        let policy = ServerCertificatePolicy(expectedName: expectedName)
        if let failure = policy.failure(for: leaf) {
            let check: AuthorityAuthenticationError.Check =
                switch failure.check {
                case .name: .name
                case .certificate: .certificate
                default: .serverAuth
                }
            throw .init(check, failure.reason)
        }
        guard let key = P256.Signing.PublicKey(leaf.publicKey) else {
            throw .init(.key, "CUHK's certificate does not hold an ECDSA P-256 key")
        }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            policy
            RFC5280Policy(fixedExpiryValidationTime: time)
        }
        if case .couldNotValidate(let failures) = await verifier.validate(
            leaf: leaf, intermediates: CertificateStore())
        {
            let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "no chain"
            throw .init(.issuer, "CUHK's certificate does not verify to \(rootName()): \(reason)")
        }
        return (leaf, key)
    }
}
