import CampusAdmin
import CampusPKI
import Metrics

/// Turns ``AuthorityEvent``s into CUHK's metrics in a server's ``ServerMetrics`` registry.
public struct AuthorityMetrics: Sendable {
    /// Certificates issued (enrollments and renewals).
    public static let issuedName = "cuhk_certificates_issued_total"
    /// Enrollments and renewals refused, by the error code's name (`code="enrollment-denied"`).
    public static let refusedName = "cuhk_enrollments_refused_total"
    /// OCSP answers, by status (`status="good"`, `revoked`, `unknown`, `error`).
    public static let ocspName = "cuhk_ocsp_responses_total"
    /// How long issuing took, as a histogram in seconds.
    public static let issueDurationName = "cuhk_issue_duration_seconds"
    /// Timestamp tokens issued.
    public static let timestampsIssuedName = "cuhk_timestamps_issued_total"
    /// Timestamp requests refused, by RFC 3161 failure (`failure="badDataFormat"`).
    public static let timestampsRefusedName = "cuhk_timestamps_refused_total"

    public let metrics: ServerMetrics
    private let issued: Metrics.Counter
    private let issueDuration: Metrics.Timer
    private let timestampsIssued: Metrics.Counter

    public init(metrics: ServerMetrics) {
        self.metrics = metrics
        // Made now, so that `/metrics` shows them at zero before the first enrollment.
        issued = metrics.counter(Self.issuedName)
        issueDuration = metrics.timer(Self.issueDurationName)
        timestampsIssued = metrics.counter(Self.timestampsIssuedName)
    }

    /// Records one event.
    public func observe(_ event: AuthorityEvent) {
        switch event {
        case .issued(_, _, let duration):
            issued.increment()
            issueDuration.record(duration)
        case .refused(let code):
            metrics.counter(Self.refusedName, [("code", code.name)]).increment()
        case .ocspAnswered(let status):
            metrics.counter(Self.ocspName, [("status", status.rawValue)]).increment()
        case .timestampIssued:
            timestampsIssued.increment()
        case .timestampRefused(let failure):
            metrics.counter(Self.timestampsRefusedName, [("failure", failure.name)]).increment()
        }
    }

    /// ``observe(_:)`` as an event sink.
    public var sink: AuthorityEventSink {
        let observer = self
        return { observer.observe($0) }
    }
}
