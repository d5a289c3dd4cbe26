import AsyncHTTPClient
import CampusPKI
import Foundation
import NIOCore
import NIOPosix
import X509

/// Asks an OCSP responder over HTTP (`POST`, `application/ocsp-request`) with AsyncHTTPClient, answering from
/// an ``OCSPResponseCache`` while a kept response is fresh.
///
/// Every failure is reported as terminal; ``RevocationPolicy`` decides whether hard or soft mode lets it pass.
struct OCSPHTTPRequester: OCSPRequester {
    let client: HTTPClient
    let cache: OCSPResponseCache
    /// Responders that failed a moment ago: not asked again until they have had time to recover.
    let failures: FailingResponders
    /// Hears each responder URL a verified cert 2 names (the revocation list beside it is then watched).
    var responderNamed: @Sendable (String) -> Void = { _ in }
    /// The trusted root: only responses it signed are cached.
    let issuer: Certificate
    /// How long one request may take; below swift-certificates' 10 s for the whole check.
    let timeout: TimeAmount
    /// The kept responses this requester gave, for ``OCSPCheckMemo``.
    let served = OCSPCheckMemo.Served()
    /// How many requests to CUHK may be under way at once: the server's own (``BlackboardServer``), shared with its
    /// timestamp requests.
    var gate = RevocationHTTPClient.gate

    /// The largest response accepted, in bytes.
    static let maximumResponseSize = 64 * 1024

    /// A failed request, for the log (the peer hears only `revocation-unknown`).
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Whether it says that the responder is down.
        var kind = FailingResponders.Failure.other
    }

    /// What `error`, thrown by the HTTP client, says of the responder.
    static func kind(of error: any Error) -> FailingResponders.Failure {
        switch error {
        case is NIOConnectionError:
            return .unreachable
        case let error as IOError:
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT].contains(error.errnoCode)
                ? .unreachable : .other
        case let error as ChannelError:
            if case .connectTimeout = error { return .unreachable }
            return .other
        case let error as HTTPClientError:
            // A connection this process could not get from its own pool in time says nothing of the responder.
            if error == .connectTimeout { return .unreachable }
            if error == .deadlineExceeded || error == .readTimeout { return .noAnswer }
            return .other
        default:
            return .other
        }
    }

    func query(request: [UInt8], uri: String) async -> OCSPRequesterQueryResult {
        let ids = (try? OCSPRequestMessage(derEncoded: request))?.certificateIDs ?? []
        let key = ids.count == 1 ? OCSPResponseCache.Key(url: uri, certificateID: ids[0].derEncoded) : nil
        responderNamed(uri)
        if let key, let cached = cache.response(for: key, at: Date()) {
            served.add(key, cached)
            return .response(cached)
        }
        guard !failures.hasFailed(uri, at: Date()) else {
            return .terminalError(
                Failure(
                    description: "OCSP responder \(uri) failed less than \(Int(failures.memory)) s ago; "
                        + "not asked again yet"))
        }
        switch await ask(request: request, uri: uri, key: key, id: ids.first) {
        case .success(let bytes):
            failures.recordSuccess(of: uri, at: Date())
            if let key { served.add(key, bytes) }
            return .response(bytes)
        case .failure(let failure):
            failures.recordFailure(of: uri, at: Date(), failure.kind)
            return .terminalError(failure)
        }
    }

    /// One request to the responder: its answer, or why there is none.
    func ask(request: [UInt8], uri: String, key: OCSPResponseCache.Key?, id: OCSPCertificateID?) async
        -> Result<[UInt8], Failure>
    {
        do {
            let response = try await RevocationHTTPClient.post(
                request, contentType: "application/ocsp-request", to: uri, timeout: timeout,
                maximumBody: Self.maximumResponseSize, on: client, gate: gate)
            guard response.status == .ok else {
                return .failure(Failure(description: "OCSP responder \(uri) answered HTTP \(response.status)"))
            }
            let bytes = response.body
            if let key, let id, let expires = cacheableUntil(bytes, for: id) {
                cache.store(bytes, for: key, until: expires, now: Date())
            }
            return .success(bytes)
        } catch {
            return .failure(
                Failure(
                    description: "OCSP request to \(uri) failed: \(NetworkFailure.describe(error)) (\(error))",
                    kind: Self.kind(of: error)))
        }
    }

    /// The `nextUpdate` of a response worth keeping: signed by the root, answering `good` or `revoked` for `id`.
    func cacheableUntil(_ bytes: [UInt8], for id: OCSPCertificateID) -> Date? {
        guard let response = try? OCSPResponseMessage(derEncoded: bytes), response.isSigned(by: issuer),
            let single = response.responses.first(where: { $0.certificateID.derEncoded == id.derEncoded }),
            single.status != .unknown
        else { return nil }
        return single.nextUpdate
    }
}
