import SwiftASN1
import X509

/// The certificate belongs to the student who claims it: its subject has exactly one CN, equal to the ID in the
/// request, and every CampusPKI student URI in its SubjectAlternativeName names the same student. The original
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
        let uris: [String]
        do {
            let names = try chain.leaf.extensions.subjectAlternativeNames.map { Array($0) } ?? []
            uris = names.compactMap { name -> String? in
                if case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(StudentID.uriPrefix) { return uri }
                return nil
            }
        } catch {
            return Self.failure(.malformedCertificate, "the certificate's SubjectAlternativeName cannot be read")
        }
        if let other = uris.first(where: { $0 != expected.uri }) {
            return Self.failure(
                .sidMismatch, "the request is for SID \(expected) but the certificate's SAN names \(other)")
        }
        return .meetsPolicy
    }
}
