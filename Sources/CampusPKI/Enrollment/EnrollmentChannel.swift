import Foundation

/// The fixed values of the enrollment channel (docs/PROTOCOL.md section 4): who CUHK's certificate names, how each
/// direction's single record is numbered, and how long an expired certificate may still renew.
public enum EnrollmentChannel {
    /// The DNS name CUHK's enrollment certificate carries, and the only name the Student accepts for CUHK.
    ///
    /// Blackboard's certificate carries `blackboard`, so neither service's certificate passes for the other's.
    public static let authorityName = "cuhk"
    /// The sequence number of the one sealed record each direction sends.
    public static let recordSequence: UInt64 = 1
    /// How long after it expired an unrevoked certificate may still renew: 30 days, as step-ca allows.
    public static let renewalGraceDays = 30
    /// ``renewalGraceDays`` in seconds.
    public static var renewalGrace: TimeInterval { Double(renewalGraceDays) * 86_400 }
}

extension RecordProtection.Direction {
    /// The enrollment channel's Student → CUHK direction: the byte `0x01`, as step 6's Student → Blackboard.
    public static let studentToAuthority = RecordProtection.Direction.studentToBlackboard
    /// The enrollment channel's CUHK → Student direction: the byte `0x02`.
    public static let authorityToStudent = RecordProtection.Direction.blackboardToStudent
}
