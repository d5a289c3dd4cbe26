import CampusPKI
import Foundation
import Logging
import X509

/// CUHK's timestamp authority (RFC 3161): turns a DER `TimeStampReq` into a DER `TimeStampResp`, signed with the
/// TSA certificate's key, and records every token it issues.
///
/// No HTTP here (``TimestampHTTPRoute`` carries it), so tests drive it directly. The profile is in docs/PROTOCOL.md
/// section 9.2: the policy ``TimestampPolicy/cuhk``, a random 126-bit serial per token, the request's nonce echoed,
/// the accuracy of ``Configuration/accuracy``, `genTime` from CUHK's clock to the millisecond, the TSA certificate
/// included when asked for.
public struct TimestampService: Sendable {
    /// How tokens are made.
    public struct Configuration: Sendable {
        /// The policy every token is made under; a request for another is refused (`unacceptedPolicy`).
        public var policy: TimestampPolicy
        /// The accuracy every token states: how far CUHK's clock may be from UTC. Keeping the clock that close (NTP)
        /// is the operator's duty; nothing here measures it.
        public var accuracy: TimestampAccuracy

        public init(
            policy: TimestampPolicy = .cuhk, accuracy: TimestampAccuracy = TimestampService.defaultAccuracy
        ) {
            self.policy = policy
            self.accuracy = accuracy
        }
    }

    /// One second.
    public static let defaultAccuracy = try! TimestampAccuracy(seconds: 1)
    /// The largest request body accepted, in bytes; a larger one gets HTTP 413.
    public static let maximumRequestSize = TimestampRequest.maximumSize

    public let authority: TimestampAuthorityCertificate
    public let registry: any TimestampRegistry
    public let configuration: Configuration
    /// Hears ``AuthorityEvent/timestampIssued(serial:hashAlgorithm:)`` for each token and
    /// ``AuthorityEvent/timestampRefused(_:)`` for each refusal.
    public let events: AuthorityEventSink

    public init(
        authority: TimestampAuthorityCertificate, registry: any TimestampRegistry,
        configuration: Configuration = .init(), events: @escaping AuthorityEventSink = { _ in }
    ) {
        self.authority = authority
        self.registry = registry
        self.configuration = configuration
        self.events = events
    }

    /// Answers a DER timestamp request.
    ///
    /// Never throws: a request that cannot be read gets a rejection with the RFC 3161 failure bit that says why
    /// (`badDataFormat`, `badAlg`, `unacceptedPolicy`, `unacceptedExtension`), and a failure of CUHK's own
    /// (`systemFailure`) is logged with its cause.
    ///
    /// - Parameters:
    ///   - request: The DER request (the body of a `POST /tsa`).
    ///   - now: The token's `genTime`, cut to whole milliseconds.
    ///   - logger: Where refusals and failures go.
    /// - Returns: The DER reply.
    public func respond(to request: [UInt8], now: Date = Date(), logger: Logger) async -> [UInt8] {
        let parsed: TimestampRequest
        do {
            parsed = try TimestampRequest(derEncoded: request)
        } catch {
            let (failure, reason) = Self.rejection(for: error)
            logger.debug(
                "timestamp request refused", metadata: ["failure": "\(failure.name)", "reason": "\(reason)"])
            return refuse(failure, reason)
        }
        if let policy = parsed.policy, policy != configuration.policy {
            return refuse(
                .unacceptedPolicy,
                "this timestamp authority issues tokens under policy \(configuration.policy) only")
        }
        if authority.validityWarning(now: now) != nil {
            logger.error(
                "timestamp refused: the TSA certificate is not valid now",
                metadata: ["notAfter": "\(ReceiptDocument.timestamp(authority.certificate.notValidAfter))"])
            return refuse(.systemFailure, "the timestamp authority's certificate is not valid now")
        }
        do {
            let info = try TSTInfo(
                policy: configuration.policy, messageImprint: parsed.messageImprint,
                serialNumber: Array(SerialNumbers.random().bytes), generationTime: now,
                accuracy: configuration.accuracy, nonce: parsed.nonce)
            let token = try TimestampToken.sign(
                info, certificate: authority.certificate, privateKey: authority.privateKey,
                includeCertificate: parsed.certificateRequested)
            // Recorded durably before it is sent: every token in circulation is in cuhk.db.
            try await registry.recordTimestamp(
                TimestampRecord(
                    serial: info.serialHex, generationTime: info.generationTime,
                    hashAlgorithm: info.messageImprint.hashAlgorithm, imprint: info.messageImprint.hashedMessage,
                    authoritySerial: authority.certificate.serialNumber.hex))
            events(.timestampIssued(serial: info.serialHex, hashAlgorithm: info.messageImprint.hashAlgorithm))
            return TimestampResponse.granted(token).derEncoded()
        } catch {
            logger.error("timestamp failed", metadata: ["error": "\(error)"])
            return refuse(.systemFailure, "the timestamp authority could not make or record the token")
        }
    }

    private func refuse(_ failure: PKIStatusInfo.FailureInfo, _ reason: String) -> [UInt8] {
        events(.timestampRefused(failure))
        return TimestampResponse.rejection(failure, reason).derEncoded()
    }

    /// The failure bit and the reason for a request that could not be read.
    static func rejection(for error: TimestampError) -> (PKIStatusInfo.FailureInfo, String) {
        switch error {
        case .unsupportedAlgorithm(let reason): (.badAlgorithm, reason)
        case .unacceptedExtension(let reason): (.unacceptedExtension, reason)
        case .unacceptedPolicy(let reason): (.unacceptedPolicy, reason)
        case .malformed(let reason): (.badDataFormat, reason)
        default: (.badDataFormat, "\(error)")
        }
    }
}

extension TimestampService: TimestampProvider {
    /// Answers in process, as ``respond(to:now:logger:)`` does for `POST /tsa`: what a signer inside CUHK's process
    /// (the demo, the tests) uses instead of HTTP.
    public func reply(to request: [UInt8]) async throws -> [UInt8] {
        await respond(to: request, logger: Logger(label: "cuhk.tsa"))
    }
}
