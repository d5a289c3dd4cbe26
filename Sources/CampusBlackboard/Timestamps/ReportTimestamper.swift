import CampusPKI
import Foundation
import Logging

/// Gets CUHK's timestamp of a complete report before its receipt is signed, as `--timestamps` says.
///
/// The token's `genTime` then decides the receipt's commit time and whether the report is on time (docs/PROTOCOL.md
/// section 5.8). When no token can be had: ``Mode/soft`` signs the receipt without one (`timestamp: none`), logs a
/// warning and counts it; ``Mode/hard`` refuses the report with `timestamp-unavailable` (310). ``Mode/off`` asks
/// nothing. No database transaction is open meanwhile.
public struct ReportTimestamper: Sendable {
    /// What to do about CUHK's timestamps (`--timestamps`).
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// A report without CUHK's timestamp is refused.
        case hard
        /// A report without CUHK's timestamp gets a receipt that says so (the default).
        case soft
        /// CUHK is not asked; receipts say `timestamp: none`.
        case off
    }

    /// The outcomes counted by `blackboard_timestamps_total{outcome=…}`.
    public enum Outcome: String, Sendable, CaseIterable {
        /// The receipt carries CUHK's token.
        case timestamped
        /// No token could be had; the receipt was signed without one (soft).
        case unavailable
        /// No token could be had; the report was refused (hard).
        case refused
    }

    public let mode: Mode
    public let authority: TimestampAuthorityClient
    /// Hears each outcome (the metrics).
    let outcome: @Sendable (Outcome) -> Void

    public init(mode: Mode, authority: TimestampAuthorityClient, outcome: @escaping @Sendable (Outcome) -> Void) {
        self.mode = mode
        self.authority = authority
        self.outcome = outcome
    }

    /// CUHK's timestamp of `report`, or why the receipt goes without one.
    ///
    /// - Throws: ``CampusError`` `timestamp-unavailable` when none can be had and the mode is hard.
    func timestamp(_ report: TimestampedReport, logger: Logger) async throws(CampusError) -> ReportTimestamp {
        guard mode != .off else { return .withoutTimestamp }
        do {
            let (token, verified) = try await authority.timestamp(report.imprint)
            // A token far from Blackboard's clock would give a receipt that Students refuse (a commit time in the
            // future) or a surprising status: such a CUHK is treated as unavailable.
            let skew = verified.generationTime.timeIntervalSinceNow
            guard skew.magnitude <= SignedReceipt.clockSkewAllowance else {
                throw TimestampAuthorityClient.Unavailable(
                    description: "CUHK's timestamp says \(verified.generationTimeText), \(Int(skew)) s from "
                        + "Blackboard's clock; more than \(Int(SignedReceipt.clockSkewAllowance)) s apart, one of the "
                        + "two clocks is wrong")
            }
            outcome(.timestamped)
            return .cuhk(token: token, generationTime: verified.generationTime)
        } catch {
            let metadata: Logger.Metadata = [
                "report": "\(report.report)", "sid": "\(report.studentID)", "cause": "\(error)",
            ]
            switch mode {
            case .hard:
                outcome(.refused)
                logger.warning("report refused: no CUHK timestamp (--timestamps hard)", metadata: metadata)
                throw CampusError(
                    .timestampUnavailable,
                    "CUHK's timestamp authority could not be reached, and this Blackboard records no report without "
                        + "CUHK's time; the report is not recorded, try again later",
                    cause: error)
            case .soft, .off:
                outcome(.unavailable)
                logger.warning("receipt signed without a CUHK timestamp", metadata: metadata)
                return .withoutTimestamp
            }
        }
    }
}
