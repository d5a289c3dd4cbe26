import AsyncHTTPClient
import CampusPKI
import Foundation
import Logging
import NIOCore
import Synchronization
import X509

/// Fetches CUHK's revocation list every few seconds, so that a revocation stops new sessions and ends open ones
/// within seconds, instead of when an OCSP answer kept for an hour runs out.
///
/// Which list: the one beside each OCSP responder that a verified cert 2 names (`crl` relative to the responder's
/// URL), so Blackboard needs no address of CUHK's of its own, and a list is only ever fetched from an address CUHK
/// wrote into a certificate it signed. At most ``maximumWatched`` lists are watched, the most recently named.
///
/// Each list must be signed by the trusted root and must not be older than the last one taken from the same place
/// (its cRLNumber); a revocation, once learned, is never forgotten. New revocations are recorded in `blackboard.db`
/// (for the dashboard), added to the set every handshake consults, and end the open sessions of those certificates.
public final class RevocationListPoller: Sendable {
    /// The most lists watched at once.
    public static let maximumWatched = 4
    /// The largest list accepted, in bytes (a list of 10,000 revocations is about 400 KB).
    public static let maximumListSize = 8 * 1024 * 1024

    private struct Watched: Sendable {
        var lastNamed: UInt64
        var entityTag: String?
        var number: UInt64?
        var failing = false
    }

    let interval: Duration
    let roots: TrustedRootStore
    let store: any ReportStore
    let revoked: RevokedCertificates
    let sessions: OpenSessions
    let logger: Logger
    /// The lists, a counter for which was named last, and the responder named last (most handshakes name the same
    /// one again, and need not work out its list's URL).
    private let watched = Mutex<(lists: [String: Watched], counter: UInt64, lastResponder: String)>(([:], 0, ""))

    public init(
        interval: Duration, roots: TrustedRootStore, store: any ReportStore, revoked: RevokedCertificates,
        sessions: OpenSessions, logger: Logger
    ) {
        self.interval = interval
        self.roots = roots
        self.store = store
        self.revoked = revoked
        self.sessions = sessions
        self.logger = logger
    }

    /// The revocation list beside the OCSP responder at `responderURL`: `crl` resolved against it (RFC 3986), so
    /// `http://HOST:PORT/` gives `http://HOST:PORT/crl`; `nil` for a URL that is not http or https.
    public static func listURL(forResponder responderURL: String) -> String? {
        guard let base = URL(string: responderURL), ["http", "https"].contains(base.scheme?.lowercased() ?? ""),
            let list = URL(string: RevocationListDefaults.relativePath, relativeTo: base)?.absoluteURL
        else { return nil }
        return list.absoluteString
    }

    /// The lists watched now.
    public var watchedURLs: [String] { watched.withLock { Array($0.lists.keys).sorted() } }

    /// A verified cert 2 names the OCSP responder at `responderURL`: watch the list beside it.
    public func watch(responder responderURL: String) {
        if watched.withLock({ $0.lastResponder == responderURL }) { return }
        guard let url = Self.listURL(forResponder: responderURL) else { return }
        watched.withLock { watched in
            watched.lastResponder = responderURL
            watched.counter += 1
            if watched.lists[url] == nil, watched.lists.count >= Self.maximumWatched,
                let oldest = watched.lists.min(by: { $0.value.lastNamed < $1.value.lastNamed })
            {
                watched.lists[oldest.key] = nil
            }
            watched.lists[url, default: Watched(lastNamed: 0)].lastNamed = watched.counter
        }
    }

    /// Loads the revocations learned before, then polls every ``interval`` until cancelled.
    public func run() async {
        do {
            revoked.add(try await store.revocations())
        } catch {
            logger.error("could not read the revocations learned before", metadata: ["error": "\(error)"])
        }
        while !Task.isCancelled {
            await pollOnce()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// Fetches each watched list once.
    public func pollOnce() async {
        for url in watchedURLs { await poll(url) }
    }

    private func poll(_ url: String) async {
        let tag = watched.withLock { $0.lists[url]?.entityTag }
        do {
            var request = HTTPClientRequest(url: url)
            if let tag { request.headers.add(name: "If-None-Match", value: tag) }
            let response = try await RevocationHTTPClient.fetch(
                request, timeout: .seconds(BlackboardServer.ocspTimeoutSeconds), maximumBody: Self.maximumListSize)
            switch response.status {
            case .notModified:
                succeeded(url)
            case .ok:
                let body = response.body
                try await apply(
                    try CertificateRevocationList(derEncoded: body), from: url,
                    tag: response.headers.first(name: "ETag"))
            default:
                failed(url, because: "HTTP \(response.status.code)")
            }
        } catch {
            failed(url, because: "\(NetworkFailure.describe(error)) (\(error))")
        }
    }

    /// Takes a list's new revocations, if the trusted root signed it and it is not older than the last one.
    private func apply(_ list: CertificateRevocationList, from url: String, tag: String?) async throws {
        let root = try roots.currentRoot()
        guard list.isSigned(by: root) else {
            failed(url, because: "the list is not signed by the trusted root")
            return
        }
        let isOlder = watched.withLock { watched in
            guard let last = watched.lists[url]?.number, let number = list.number else { return false }
            return number < last
        }
        guard !isOlder else {
            failed(url, because: "the list is older than the last one taken (cRLNumber \(list.number ?? 0))")
            return
        }
        if let nextUpdate = list.nextUpdate, nextUpdate < Date() {
            logger.warning("CUHK's revocation list is past its nextUpdate", metadata: ["url": "\(url)"])
        }
        let now = Date()
        let fresh = list.entries.filter { revoked.revocation(of: $0.serial) == nil }.map {
            LearnedRevocation(
                serial: $0.serial, revokedAt: $0.revocationDate, reasonCode: $0.reasonCode, learnedAt: now)
        }
        if !fresh.isEmpty {
            do {
                try await store.recordRevocations(fresh)
            } catch {
                // Refusing the certificate matters more than the dashboard's mark: it is refused from memory anyway.
                logger.error("could not record revocations in blackboard.db", metadata: ["error": "\(error)"])
            }
            let added = revoked.add(fresh)
            let ended = sessions.end(added)
            for revocation in added {
                logger.notice(
                    "certificate revoked (revocation list)",
                    metadata: [
                        "serial": "\(revocation.serial)", "reason": "\(revocation.reason)",
                        "revoked-at": "\(ReceiptDocument.timestamp(revocation.revokedAt))",
                    ])
            }
            if ended > 0 { logger.notice("sessions ended by a revocation", metadata: ["count": "\(ended)"]) }
        }
        watched.withLock { watched in
            guard var entry = watched.lists[url] else { return }
            entry.entityTag = tag
            entry.number = list.number ?? entry.number
            watched.lists[url] = entry
        }
        succeeded(url)
    }

    private func succeeded(_ url: String) {
        let recovered = watched.withLock { watched in
            defer { watched.lists[url]?.failing = false }
            return watched.lists[url]?.failing ?? false
        }
        if recovered { logger.notice("CUHK's revocation list can be fetched again", metadata: ["url": "\(url)"]) }
    }

    /// Logged once when a list starts failing, not at every poll.
    private func failed(_ url: String, because reason: String) {
        let first = watched.withLock { watched in
            defer { watched.lists[url]?.failing = true }
            return !(watched.lists[url]?.failing ?? true)
        }
        if first {
            logger.warning(
                "cannot take CUHK's revocation list; revocations reach Blackboard through OCSP only meanwhile",
                metadata: ["url": "\(url)", "cause": "\(reason)"])
        }
    }
}
