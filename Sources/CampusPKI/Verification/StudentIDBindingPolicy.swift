import SwiftASN1
import X509

/// The certificate belongs to the student who claims it: its subject has exactly one CN, equal to the ID in the
/// request, and every directory name in its SubjectAlternativeName that has a CN names the same student. The original
/// checked only the chain, so any student's certificate could upload as anyone.
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
        let directoryNames: [DistinguishedName]
        do {
            directoryNames = try (chain.leaf.extensions.subjectAlternativeNames.map { Array($0) } ?? []).compactMap {
                name in
                if case .directoryName(let directoryName) = name { return directoryName }
                return nil
            }
        } catch {
            return Self.failure(.malformedCertificate, "the certificate's SubjectAlternativeName cannot be read")
        }
        if let other = directoryNames.first(where: { !$0.commonNames.isEmpty && $0.commonNames != [expected.rawValue] })
        {
            return Self.failure(
                .sidMismatch, "the request is for SID \(expected) but the certificate's SAN names \(other)")
        }
        return .meetsPolicy
    }
}
