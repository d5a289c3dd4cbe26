import CampusPKI
import Foundation
import Synchronization

/// A revocation Blackboard learned from CUHK's revocation list; kept in `blackboard.db`, so that the dashboard can
/// mark the reports made with a certificate revoked afterwards.
public struct LearnedRevocation: Sendable, Hashable {
    /// The certificate's serial, lower-case hex.
    public var serial: String
    public var revokedAt: Date
    /// The RFC 5280 `CRLReason`; `nil` for unspecified.
    public var reasonCode: Int?
    /// When Blackboard learned it.
    public var learnedAt: Date

    public init(serial: String, revokedAt: Date, reasonCode: Int?, learnedAt: Date) {
        self.serial = serial
        self.revokedAt = revokedAt
        self.reasonCode = reasonCode
        self.learnedAt = learnedAt
    }

    /// The reason's name: `keyCompromise`, `superseded`, …
    public var reason: String { CertificateRevocationList.reasonName(reasonCode) }

    /// What a student whose certificate this is hears: at the handshake, or when an open session is ended.
    public func error(endingSession: Bool) -> CampusError {
        CampusError(
            .certificateRevoked,
            "CUHK has revoked this certificate (serial \(serial), reason \(reason), at "
                + "\(ReceiptDocument.timestamp(revokedAt)))"
                + (endingSession ? "; the session is ended, and what was acknowledged is stored" : ""))
    }
}

/// The revoked certificates Blackboard knows of, by serial: what the revocation lists said, which only grows (a list
/// replayed from before cannot take a revocation back).
public final class RevokedCertificates: Sendable {
    private let known = Mutex<[String: LearnedRevocation]>([:])

    public init() {}

    /// How many are known.
    public var count: Int { known.withLock { $0.count } }

    /// The revocation of `serial`, if it is known.
    public func revocation(of serial: String) -> LearnedRevocation? {
        known.withLock { $0[serial.lowercased()] }
    }

    /// Adds revocations.
    ///
    /// - Returns: Those that were not known yet.
    @discardableResult
    public func add(_ revocations: [LearnedRevocation]) -> [LearnedRevocation] {
        known.withLock { known in
            revocations.filter { revocation in
                guard known[revocation.serial] == nil else { return false }
                known[revocation.serial] = revocation
                return true
            }
        }
    }
}
