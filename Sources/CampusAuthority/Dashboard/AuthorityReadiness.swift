import CampusPKI
import Foundation
import X509

/// What `/readyz` checks at CUHK: the root key and certificate are loaded (and usable), and `cuhk.db` takes a
/// write.
public enum AuthorityReadiness {
    /// What is wrong; empty when CUHK is ready.
    ///
    /// - Parameters:
    ///   - root: The loaded root, `nil` if there is none.
    ///   - probe: A small durable write to `cuhk.db` (``SQLiteCertificateRegistry/probeWrite(at:)``).
    public static func problems(
        root: RootAuthority?, now: Date = Date(), probe: () async throws -> Void
    ) async -> [String] {
        var problems: [String] = []
        if let root {
            if root.certificate.publicKey != root.privateKey.publicKey {
                problems.append("the root key does not match the root certificate")
            }
            if root.certificate.notValidAfter <= now {
                problems.append(
                    "the root certificate expired on \(DashboardFormat.time(root.certificate.notValidAfter))")
            }
        } else {
            problems.append("the root key and certificate are not loaded")
        }
        do {
            try await probe()
        } catch {
            problems.append("\(SQLiteCertificateRegistry.fileName) does not accept writes: \(error)")
        }
        return problems
    }
}
