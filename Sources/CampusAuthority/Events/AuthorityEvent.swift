import CampusPKI

/// What CUHK did, as typed events: the certificates it issued, the enrollments it refused and the OCSP answers it
/// gave. Observers (``AuthorityMetrics``) turn them into figures; nothing parses log text.
public enum AuthorityEvent: Sendable, Hashable {
    /// A certificate was issued (an enrollment or a renewal) and recorded; `duration` is from the request's arrival
    /// at the authority to the durable record.
    case issued(serial: String, studentID: StudentID, duration: Duration)
    /// An enrollment or a renewal was refused with this code.
    case refused(CampusError.Code)
    /// The OCSP responder told the status of one certificate, or could not answer a request.
    case ocspAnswered(OCSPAnswerStatus)
    /// The timestamp authority issued (and recorded) a token.
    case timestampIssued(serial: String, hashAlgorithm: TimestampHashAlgorithm)
    /// The timestamp authority refused a request with this RFC 3161 failure.
    case timestampRefused(PKIStatusInfo.FailureInfo)
}

/// What the OCSP responder said of one certificate.
public enum OCSPAnswerStatus: String, Sendable, Hashable, CaseIterable {
    case good
    case revoked
    case unknown
    /// No status at all: a malformed request, or a failure while answering.
    case error
}

/// Where events go; called on the task that did the work, so it must return quickly.
public typealias AuthorityEventSink = @Sendable (AuthorityEvent) -> Void
