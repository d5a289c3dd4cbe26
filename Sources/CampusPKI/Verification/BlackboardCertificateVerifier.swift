import Crypto
import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Why the Student refused to believe the peer is Blackboard. Each ``Check`` is named in the message.
public struct BlackboardAuthenticationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The checks of step 4, in the order the Student makes them (docs/PROTOCOL.md, "The Student's checks").
    public enum Check: String, Sendable, CaseIterable {
        case certificate
        case issuer
        case validity
        case serverAuth = "server-auth"
        case name
        case key
        case signature
        case confirmation
    }

    public var check: Check
    public var reason: String

    public init(_ check: Check, _ reason: String) {
        self.check = check
        self.reason = reason
    }

    public var description: String { "Blackboard failed the \(check.rawValue) check: \(reason)" }
}

/// The Student's check of Blackboard's certificate in step 4: it must chain to the CUHK root the Student pinned at
/// enrollment, be valid now, be a server's certificate for the expected name, and hold an ECDSA P-256 key.
///
/// The checks run one by one in a fixed order so a failure names the first one that failed; swift-certificates'
/// `Verifier` then applies RFC 5280 to the whole chain with ``ServerCertificatePolicy``.
public struct BlackboardCertificateVerifier: Sendable {
    /// The CUHK root the Student trusts.
    public var root: Certificate
    /// The DNS name Blackboard's certificate must carry (`--blackboard-name`).
    public var expectedName: String

    public init(root: Certificate, expectedName: String) {
        self.root = root
        self.expectedName = expectedName
    }

    /// The verified certificate and its key.
    public func verify(certificatePEM: String, at time: Date = Date()) async throws(BlackboardAuthenticationError)
        -> (Certificate, P256.Signing.PublicKey)
    {
        let leaf: Certificate
        do {
            leaf = try Certificate(pemText: certificatePEM)
        } catch {
            throw .init(.certificate, "Blackboard's certificate is not a valid PEM X.509 certificate")
        }
        // Made only for an error: the name's text and the fingerprint cost more than the checks that pass.
        func rootName() -> String { "the CUHK root \(root.subject) (SHA-256 fingerprint \(root.sha256Fingerprint))" }
        guard leaf.issuer == root.subject, root.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            throw .init(
                .issuer,
                "Blackboard's certificate (issuer \(leaf.issuer)) was not issued by \(rootName()), "
                    + "which this student trusts")
        }
        guard leaf != root else {
            throw .init(.serverAuth, "the peer presented the CUHK root itself, not a service certificate")
        }
        if time > leaf.notValidAfter {
            throw .init(.validity, "Blackboard's certificate expired at \(Self.format(leaf.notValidAfter))")
        }
        if time < leaf.notValidBefore {
            throw .init(.validity, "Blackboard's certificate is not valid before \(Self.format(leaf.notValidBefore))")
        }
        let policy = ServerCertificatePolicy(expectedName: expectedName)
        if let failure = policy.failure(for: leaf) { throw failure }
        guard let key = P256.Signing.PublicKey(leaf.publicKey) else {
            throw .init(.key, "Blackboard's certificate does not hold an ECDSA P-256 key")
        }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            policy
            RFC5280Policy(fixedExpiryValidationTime: time)
        }
        if case .couldNotValidate(let failures) = await verifier.validate(
            leaf: leaf, intermediates: CertificateStore())
        {
            let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "no chain"
            throw .init(.issuer, "Blackboard's certificate does not verify to \(rootName()): \(reason)")
        }
        return (leaf, key)
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
