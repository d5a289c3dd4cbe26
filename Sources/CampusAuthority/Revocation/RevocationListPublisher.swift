import CampusPKI
import Crypto
import Foundation

/// CUHK's certificate revocation list, signed again only when the registry's revocations change (or the list is
/// halfway to its `nextUpdate`), so that the many polls that find nothing new cost one registry read and a
/// `304 Not Modified`.
///
/// The registry is read at each request because `cuhk revoke`, CUHK's web interface and other CUHK instances on the
/// same database revoke through the store, from other processes.
public actor RevocationListPublisher {
    /// A signed list and the tag that names it.
    public struct Published: Sendable {
        public var der: [UInt8]
        /// The HTTP entity tag, quoted: the list's cRLNumber and the first 16 hex digits of its SHA-256. Several CUHK
        /// instances on one database may sign different lists with one number in the same second; the digest keeps
        /// a poll that reaches another instance from being told `304` for a list it does not have.
        public var entityTag: String
        public var number: UInt64
    }

    let root: RootAuthority
    let registry: any CertificateRegistry
    /// `nextUpdate − thisUpdate`.
    let validity: TimeInterval
    private var current: (entries: [CertificateRevocationList.Entry], published: Published, nextUpdate: Date)?

    /// - Parameter validity: How long a list may be relied on; the OCSP responses' validity.
    public init(root: RootAuthority, registry: any CertificateRegistry, validity: TimeInterval) {
        self.root = root
        self.registry = registry
        self.validity = validity
    }

    /// The list as it is now.
    ///
    /// - Throws: When the registry cannot be read or the root cannot sign.
    public func list(now: Date = Date()) async throws -> Published {
        let entries = try await registry.revokedSerials().map { revoked in
            CertificateRevocationList.Entry(
                serial: revoked.serial, revocationDate: revoked.revocation.time,
                reasonCode: revoked.revocation.reason == .unspecified ? nil : revoked.revocation.reason.code)
        }
        if let current, current.entries == entries, current.nextUpdate.timeIntervalSince(now) > validity / 2 {
            return current.published
        }
        let thisUpdate = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let nextUpdate = thisUpdate.addingTimeInterval(validity)
        // Increasing across restarts too: the time in seconds, or one more than the last number.
        let number = max(UInt64(max(0, thisUpdate.timeIntervalSince1970)), (current?.published.number ?? 0) + 1)
        let der = try CertificateRevocationList.signed(
            entries, number: number, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
            signer: (root.certificate, root.privateKey), keyIdentifier: root.keyIdentifier)
        let digest = SHA256.hash(data: der).prefix(8).map { String(format: "%02x", $0) }.joined()
        let published = Published(der: der, entityTag: "\"\(number)-\(digest)\"", number: number)
        current = (entries, published, nextUpdate)
        return published
    }
}
