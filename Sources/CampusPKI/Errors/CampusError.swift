/// The error every CampusPKI component reports, locally and on the wire.
///
/// Each error has a stable numeric ``Code`` (it travels in error frames, see docs/PROTOCOL.md) and a human
/// reason. A client tells "SID mismatch" from "expired" by the code, never by parsing the reason.
public struct CampusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable error codes. Numbers are never reused or renumbered.
    public enum Code: UInt16, Sendable, CaseIterable {
        // Framing and protocol (1–99).
        case malformedMessage = 1
        case frameTooLarge = 2
        case unsupportedVersion = 3
        case unknownMessageType = 4
        case unexpectedMessage = 5
        case timeout = 6
        case internalError = 7
        case serverBusy = 8
        case truncatedFrame = 9
        case connectionClosed = 10
        case shuttingDown = 11

        // Enrollment at CUHK (100–199).
        case malformedCSR = 100
        case invalidCSRSignature = 101
        case invalidSubject = 102
        case keyTooSmall = 103
        case unsupportedKeyAlgorithm = 104
        case weakSignatureAlgorithm = 105
        case issuanceFailed = 106
        case enrollmentDenied = 107
        case codeExpired = 108
        case codeUsed = 109
        /// No longer sent: the lockout per student ID was withdrawn (wrong codes are throttled per address, 113).
        case enrollmentLocked = 110
        case renewalDenied = 111
        case renewalProofFailed = 112
        case enrollmentThrottled = 113

        // The Blackboard handshake (200–299).
        case rootUnavailable = 200
        case malformedCertificate = 201
        case untrustedCertificate = 202
        case certificateExpired = 203
        case certificateNotYetValid = 204
        case notAClientCertificate = 205
        case missingClientAuthUsage = 206
        case missingKeyEnciphermentUsage = 207
        case sidMismatch = 208
        case malformedRequest = 209
        case keyConfirmationFailed = 210
        case certificateRevoked = 211
        case revocationUnknown = 212
        case unknownAssignment = 213
        case assignmentRequired = 214
        case assignmentClosed = 215
        case deadlinePassed = 216
        case serviceCertificateUnavailable = 217
        /// The student already has as many sessions open at this Blackboard as one student may have at once.
        case tooManySessions = 218

        // Report messages (300–399).
        case messageAuthenticationFailed = 300
        case replayedMessage = 301
        case outOfOrderMessage = 302
        case messageTooLarge = 303
        case storageFailed = 304
        case reportTooLarge = 305
        case storageQuotaExceeded = 306
        case reportLimitReached = 307
        /// CUHK's timestamp authority could not be reached or refused, and Blackboard runs with `--timestamps hard`.
        case timestampUnavailable = 310

        /// The code's stable name, as written in docs/PROTOCOL.md.
        public var name: String {
            switch self {
            case .malformedMessage: "malformed-message"
            case .frameTooLarge: "frame-too-large"
            case .unsupportedVersion: "unsupported-version"
            case .unknownMessageType: "unknown-message-type"
            case .unexpectedMessage: "unexpected-message"
            case .timeout: "timeout"
            case .internalError: "internal-error"
            case .serverBusy: "server-busy"
            case .truncatedFrame: "truncated-frame"
            case .connectionClosed: "connection-closed"
            case .shuttingDown: "shutting-down"
            case .malformedCSR: "malformed-csr"
            case .invalidCSRSignature: "invalid-csr-signature"
            case .invalidSubject: "invalid-subject"
            case .keyTooSmall: "key-too-small"
            case .unsupportedKeyAlgorithm: "unsupported-key-algorithm"
            case .weakSignatureAlgorithm: "weak-signature-algorithm"
            case .issuanceFailed: "issuance-failed"
            case .enrollmentDenied: "enrollment-denied"
            case .codeExpired: "code-expired"
            case .codeUsed: "code-used"
            case .enrollmentLocked: "enrollment-locked"
            case .renewalDenied: "renewal-denied"
            case .renewalProofFailed: "renewal-proof-failed"
            case .enrollmentThrottled: "enrollment-throttled"
            case .rootUnavailable: "root-unavailable"
            case .malformedCertificate: "malformed-certificate"
            case .untrustedCertificate: "untrusted-certificate"
            case .certificateExpired: "certificate-expired"
            case .certificateNotYetValid: "certificate-not-yet-valid"
            case .notAClientCertificate: "not-a-client-certificate"
            case .missingClientAuthUsage: "missing-client-auth-usage"
            case .missingKeyEnciphermentUsage: "missing-key-encipherment-usage"
            case .sidMismatch: "sid-mismatch"
            case .malformedRequest: "malformed-request"
            case .keyConfirmationFailed: "key-confirmation-failed"
            case .certificateRevoked: "certificate-revoked"
            case .revocationUnknown: "revocation-unknown"
            case .unknownAssignment: "unknown-assignment"
            case .assignmentRequired: "assignment-required"
            case .assignmentClosed: "assignment-closed"
            case .deadlinePassed: "deadline-passed"
            case .serviceCertificateUnavailable: "service-certificate-unavailable"
            case .tooManySessions: "too-many-sessions"
            case .messageAuthenticationFailed: "message-authentication-failed"
            case .replayedMessage: "replayed-message"
            case .outOfOrderMessage: "out-of-order-message"
            case .messageTooLarge: "message-too-large"
            case .storageFailed: "storage-failed"
            case .reportTooLarge: "report-too-large"
            case .storageQuotaExceeded: "storage-quota-exceeded"
            case .reportLimitReached: "report-limit-reached"
            case .timestampUnavailable: "timestamp-unavailable"
            }
        }
    }

    /// The stable machine code.
    public var code: Code
    /// A sentence for people; may change between versions. It travels to the peer, so it never carries a
    /// library's internals (type names, source paths): those go in ``detail``.
    public var reason: String
    /// The underlying cause, for the local log only; never sent to the peer.
    public var detail: String?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The stable code that travels on the wire.
    ///   - reason: A sentence that says what was wrong with which input.
    ///   - detail: The underlying cause, kept for the log and never sent.
    public init(_ code: Code, _ reason: String, detail: String? = nil) {
        self.code = code
        self.reason = reason
        self.detail = detail
    }

    /// Creates an error whose log line keeps `cause`, while the peer sees only `reason`.
    public init(_ code: Code, _ reason: String, cause: any Error) {
        self.init(code, reason, detail: String(describing: cause))
    }

    /// The code, the reason and, when there is one, the underlying cause: for logs.
    public var description: String {
        let text = "\(code.name) (\(code.rawValue)): \(reason)"
        guard let detail else { return text }
        return "\(text) [cause: \(detail)]"
    }
}
