import Foundation
import SwiftASN1
import X509

/// The leaf is valid at the validation time; says which side of its validity it is on.
///
/// `RFC5280Policy` checks the same thing for the whole chain; this runs first for the leaf so the peer gets
/// `certificate-expired` or `certificate-not-yet-valid` instead of a general failure.
public struct ValidityPeriodPolicy: VerifierPolicy {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    public var validationTime: Date

    public init(validationTime: Date) {
        self.validationTime = validationTime
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let leaf = chain.leaf
        if validationTime > leaf.notValidAfter {
            // Said to the student at Blackboard and at CUHK: what fixes it.
            let graceEnds = leaf.notValidAfter.addingTimeInterval(EnrollmentChannel.renewalGrace)
            let remedy =
                validationTime <= graceEnds
                ? "renew it with `student renew` (possible until \(graceEnds.formatted(.iso8601))) or enroll again "
                    + "with a new code"
                : "enroll again with a new code (`student renew` works only for \(EnrollmentChannel.renewalGraceDays) "
                    + "days after expiry)"
            return Self.failure(
                .certificateExpired,
                "the certificate expired at \(leaf.notValidAfter.formatted(.iso8601)); \(remedy)")
        }
        if validationTime < leaf.notValidBefore {
            return Self.failure(.certificateNotYetValid, "the certificate is not valid before \(leaf.notValidBefore)")
        }
        return .meetsPolicy
    }
}
