import AsyncHTTPClient
import CampusPKI
import Foundation
import NIOCore
import X509

/// CUHK's timestamp authority as Blackboard asks it: `POST /tsa` over HTTP (docs/PROTOCOL.md section 9.2).
///
/// Where: `--tsa-url` when given; otherwise `tsa` resolved against the OCSP responder URL in Blackboard's own
/// certificate (RFC 3986, as the revocation list's `crl`), so `http://HOST:PORT/` gives `http://HOST:PORT/tsa`: CUHK
/// wrote that address into a certificate it signed, and serves both on the same port. Every token is checked against
/// the trusted root before it is used. An authority that looks down (no connection, or no answer while it answered
/// nothing lately) is remembered for ``FailingResponders/memory`` (10 s), as OCSP responders are: meanwhile every
/// request fails at once, so a deadline rush against a dead authority waits once per 10 s, not once per student.
/// One that answers, even with an error, is asked again for the next report.
public final class TimestampAuthorityClient: TimestampProvider, Sendable {
    /// Why no token could be had, in words for the log.
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Seconds one request may take, connecting included.
    public static let timeoutSeconds: Int64 = 5
    /// The path of the service relative to CUHK's OCSP responder URL.
    public static let relativePath = "tsa"

    /// `--tsa-url`, if given.
    public let configuredURL: String?
    let credentials: ServiceCredentialStore
    let roots: TrustedRootStore
    /// The authorities that failed a moment ago.
    public let failures: FailingResponders
    let client: HTTPClient
    let timeout: TimeAmount
    /// How many requests to CUHK may be under way at once: the server's, shared with its OCSP requests.
    let gate: RequestGate

    public convenience init(
        configuredURL: String?, credentials: ServiceCredentialStore, roots: TrustedRootStore,
        failures: FailingResponders = FailingResponders(),
        timeout: TimeAmount = .seconds(TimestampAuthorityClient.timeoutSeconds)
    ) {
        self.init(
            configuredURL: configuredURL, credentials: credentials, roots: roots, failures: failures, timeout: timeout,
            gate: RevocationHTTPClient.gate)
    }

    init(
        configuredURL: String?, credentials: ServiceCredentialStore, roots: TrustedRootStore,
        failures: FailingResponders, timeout: TimeAmount, gate: RequestGate
    ) {
        self.configuredURL = configuredURL
        self.credentials = credentials
        self.roots = roots
        self.failures = failures
        self.client = RevocationHTTPClient.shared
        self.timeout = timeout
        self.gate = gate
    }

    /// The timestamp service beside the OCSP responder at `responderURL`; `nil` for a URL that is not http or https.
    public static func serviceURL(forResponder responderURL: String) -> String? {
        guard let base = URL(string: responderURL), ["http", "https"].contains(base.scheme?.lowercased() ?? ""),
            let service = URL(string: relativePath, relativeTo: base)?.absoluteURL
        else { return nil }
        return service.absoluteString
    }

    /// The URL asked now.
    ///
    /// - Throws: ``Unavailable`` when there is no `--tsa-url` and Blackboard's certificate names no OCSP responder.
    public func url() throws(Unavailable) -> String {
        if let configuredURL { return configuredURL }
        let certificate: Certificate
        do {
            certificate = try credentials.current().certificate
        } catch {
            throw Unavailable(description: "Blackboard has no usable certificate of its own (\(error))")
        }
        guard let responder = certificate.ocspResponderURLs.first, let url = Self.serviceURL(forResponder: responder)
        else {
            throw Unavailable(
                description: "Blackboard's certificate names no OCSP responder, so the address of CUHK's timestamp "
                    + "authority is unknown (give --tsa-url)")
        }
        return url
    }

    /// Asks for a token over `imprint` and checks it: granted, for this imprint and nonce, under CUHK's policy,
    /// signed by a TSA certificate that chains to the trusted root now.
    ///
    /// - Returns: The token's DER and what it states.
    /// - Throws: ``Unavailable`` with the cause.
    public func timestamp(_ imprint: MessageImprint, now: Date = Date()) async throws(Unavailable) -> (
        token: [UInt8], timestamp: VerifiedTimestamp
    ) {
        let url = try url()
        let request = TimestampRequest(
            messageImprint: imprint, policy: .cuhk, nonce: TimestampRequest.randomNonce(), certificateRequested: true)
        let reply: [UInt8]
        do {
            reply = try await self.reply(to: request.derEncoded())
        } catch let error as Unavailable {
            throw error
        } catch {
            throw Unavailable(description: "\(error)")
        }
        do {
            let root = try roots.currentRoot()
            return try await TimestampVerifier(root: root).verify(response: reply, for: request, now: now)
        } catch {
            // An answer came: the authority is up, so this failure is not remembered (as for OCSP responders).
            throw Unavailable(description: "the answer of CUHK's timestamp authority at \(url) was not used: \(error)")
        }
    }

    /// Sends a DER request to CUHK's timestamp authority and returns its DER reply (a refusal is a reply).
    ///
    /// - Throws: ``Unavailable`` when the authority is not known, failed a moment ago, cannot be reached, or answers
    ///   with another HTTP status than 200.
    public func reply(to request: [UInt8]) async throws -> [UInt8] {
        let url = try url()
        guard !failures.hasFailed(url, at: Date()) else {
            throw Unavailable(
                description: "CUHK's timestamp authority at \(url) failed less than \(Int(failures.memory)) s ago; "
                    + "not asked again yet")
        }
        do {
            let response = try await RevocationHTTPClient.post(
                request, contentType: "application/timestamp-query", to: url, timeout: timeout,
                maximumBody: TimestampResponse.maximumSize, on: client, gate: gate)
            guard response.status == .ok else {
                failures.recordFailure(of: url, at: Date(), .other)
                throw Unavailable(description: "CUHK's timestamp authority at \(url) answered HTTP \(response.status)")
            }
            let bytes = response.body
            failures.recordSuccess(of: url, at: Date())
            return bytes
        } catch let error as Unavailable {
            throw error
        } catch {
            failures.recordFailure(of: url, at: Date(), OCSPHTTPRequester.kind(of: error))
            throw Unavailable(
                description: "the request to CUHK's timestamp authority at \(url) failed: "
                    + "\(NetworkFailure.describe(error)) (\(error))")
        }
    }
}
