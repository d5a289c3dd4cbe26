import CampusPKI
import Foundation
import X509

/// What `/readyz` checks at CUHK: the root key and certificate are loaded (and usable), and CUHK's store (`cuhk.db`,
/// or the shared PostgreSQL database) takes a write.
public enum AuthorityReadiness {
    /// What is wrong; empty when CUHK is ready.
    ///
    /// - Parameters:
    ///   - root: The loaded root, `nil` if there is none.
    ///   - store: Where the store is, named in the problem (never with a password).
    ///   - probe: A small durable write to the store (``AuthorityStore/probeWrite(at:)``).
    public static func problems(
        root: RootAuthority?, store: String = "cuhk.db", now: Date = Date(), probe: () async throws -> Void
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
            problems.append("\(store) does not accept writes: \(Self.cause(error))")
        }
        return problems
    }
}

extension AuthorityReadiness {
    /// Why a probe failed, in words that name no password.
    static func cause(_ error: any Error) -> String {
        if let unavailable = error as? StorageUnavailable { return "it cannot be reached (\(unavailable.cause))" }
        return "\(error)"
    }
}
