import CampusPKI
import Foundation
import Logging
import X509

/// CUHK's OCSP responder (RFC 6960, with the RFC 5019 profile): turns a DER request into a DER response, signed
/// by the root key, from what the registry says of each serial.
///
/// No HTTP here (``OCSPHTTPServer`` carries it), so tests drive it directly.
public struct OCSPResponder: Sendable {
    /// How responses are made.
    public struct Configuration: Sendable {
        /// How long a response may be relied on (`nextUpdate − thisUpdate`); Blackboard caches it that long, so this
        /// is also how long a revocation may take to reach it.
        public var validity: TimeInterval
        /// The most certificates one request may ask about.
        public var maximumCertificatesPerRequest: Int

        public init(
            validity: TimeInterval = OCSPResponder.defaultValiditySeconds,
            maximumCertificatesPerRequest: Int = 16
        ) {
            self.validity = validity
            self.maximumCertificatesPerRequest = maximumCertificatesPerRequest
        }
    }

    /// One hour: `cuhk serve --ocsp-validity`'s default.
    public static let defaultValiditySeconds: TimeInterval = 3600
    /// 9336, next to CUHK's 9335: `cuhk serve --ocsp-port`'s default.
    public static let defaultPort = 9336
    /// The `setting` in `cuhk.db` under which `cuhk serve` records the responder URL it writes in certificates, so
    /// that `cuhk init` and `cuhk service issue` write the same one into Blackboard's.
    public static let urlSetting = "ocsp-url"
    /// The largest request accepted, in bytes (a request for one certificate is about 100).
    public static let maximumRequestSize = 16 * 1024

    public let root: RootAuthority
    public let registry: any CertificateRegistry
    public let configuration: Configuration
    /// Hears an ``AuthorityEvent/ocspAnswered(_:)`` for each certificate answered about, or for a request that got
    /// no status.
    public let events: AuthorityEventSink

    public init(
        root: RootAuthority, registry: any CertificateRegistry, configuration: Configuration = .init(),
        events: @escaping AuthorityEventSink = { _ in }
    ) {
        self.root = root
        self.registry = registry
        self.configuration = configuration
        self.events = events
    }

    /// Answers a DER OCSP request.
    ///
    /// Never throws: a request that cannot be read gets `malformedRequest`, a registry that cannot be reached now
    /// `tryLater`, another registry failure `internalError` (it is logged with its cause), as RFC 6960 section 2.3
    /// says.
    ///
    /// - Parameters:
    ///   - request: The DER request (the body of a POST, or decoded from a GET's path).
    ///   - now: The response's `producedAt` and `thisUpdate`.
    ///   - logger: Where a failure's cause goes.
    /// - Returns: The DER response.
    public func respond(to request: [UInt8], now: Date = Date(), logger: Logger) async -> [UInt8] {
        guard request.count <= Self.maximumRequestSize, let parsed = try? OCSPRequestMessage(derEncoded: request),
            parsed.certificateIDs.count <= configuration.maximumCertificatesPerRequest
        else {
            logger.debug("malformed OCSP request", metadata: ["bytes": "\(request.count)"])
            events(.ocspAnswered(.error))
            return OCSPResponseMessage.unsuccessful(.malformedRequest)
        }
        // Whole seconds, so that the encoded times say exactly what was meant.
        let thisUpdate = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let nextUpdate = thisUpdate.addingTimeInterval(configuration.validity)
        do {
            var responses: [OCSPResponseMessage.SingleResponse] = []
            var answered: [OCSPAnswerStatus] = []
            for id in parsed.certificateIDs {
                let status = try await status(of: id)
                responses.append(
                    .init(certificateID: id, status: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate))
                answered.append(Self.answer(status))
            }
            let signed = try OCSPResponseMessage.signed(
                responses, producedAt: thisUpdate, signer: (root.certificate, root.privateKey))
            for status in answered { events(.ocspAnswered(status)) }
            return signed
        } catch let error as StorageUnavailable {
            // RFC 6960's tryLater: the registry is away for now (a database restarting or failing over).
            logger.warning("OCSP response deferred", metadata: ["error": "\(error)"])
            events(.ocspAnswered(.error))
            return OCSPResponseMessage.unsuccessful(.tryLater)
        } catch {
            logger.error("OCSP response failed", metadata: ["error": "\(error)"])
            events(.ocspAnswered(.error))
            return OCSPResponseMessage.unsuccessful(.internalError)
        }
    }

    /// The status as metrics count it.
    static func answer(_ status: OCSPResponseMessage.CertificateStatus) -> OCSPAnswerStatus {
        switch status {
        case .good: .good
        case .revoked: .revoked
        case .unknown: .unknown
        }
    }

    /// A serial's status, students' and services' certificates alike; `unknown` for another issuer (or a hash
    /// algorithm not known here) and for a serial this CA never issued.
    func status(of id: OCSPCertificateID) async throws -> OCSPResponseMessage.CertificateStatus {
        guard id.names(issuer: root.certificate) else { return .unknown }
        switch try await registry.status(ofSerial: id.serialHex) {
        case .good: return .good
        case .revoked(_, let revocation): return Self.revoked(revocation)
        case .unknown: break
        }
        switch try await registry.serviceCertificateStatus(ofSerial: id.serialHex) {
        case .good: return .good
        case .revoked(_, let revocation): return Self.revoked(revocation)
        case .unknown: return .unknown
        }
    }

    static func revoked(_ revocation: Revocation) -> OCSPResponseMessage.CertificateStatus {
        .revoked(time: revocation.time, reasonCode: revocation.reason == .unspecified ? nil : revocation.reason.code)
    }
}
