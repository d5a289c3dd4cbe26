import SwiftASN1
import X509

/// The certificate belongs to the student who claims it: its subject has exactly one CN, equal to the ID in the
/// request. The original checked only the chain, so any student's certificate could upload as anyone.
public struct StudentIDBindingPolicy: VerifierPolicy {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    public var expected: StudentID

    public init(expected: StudentID) {
        self.expected = expected
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let names = chain.leaf.subject.commonNames
        guard names == [expected.rawValue] else {
            let found = names.isEmpty ? "no CN" : "CN \(names.joined(separator: ", "))"
            return Self.failure(.sidMismatch, "the request is for SID \(expected) but the certificate has \(found)")
        }
        return .meetsPolicy
    }
}
