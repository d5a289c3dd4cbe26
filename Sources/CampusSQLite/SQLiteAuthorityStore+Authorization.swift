import CampusAuthority
import CampusPKI
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func certificatesNotFromRoster(onRosterAt time: Date) async throws -> [IssuedCertificate] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT certificate.* FROM certificate JOIN roster ON roster.sid = certificate.sid
                    WHERE certificate.roster_authorized = 0 AND certificate.revoked_at IS NULL
                        AND certificate.not_after > ?
                    ORDER BY certificate.sid, certificate.issued_at, certificate.serial
                    """,
                arguments: [time.timeIntervalSince1970]
            ).compactMap(Self.certificate(from:))
        }
    }

    public func revokeAllNotFromRoster(reason: RevocationReason, at time: Date) async throws -> [IssuedCertificate] {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM certificate WHERE roster_authorized = 0 AND revoked_at IS NULL
                    ORDER BY sid, issued_at, serial
                    """)
            return try rows.compactMap(Self.certificate(from:)).map { certificate in
                try Self.markRevoked(certificate.serial, reason: reason, at: time, in: db)
                var revoked = certificate
                revoked.revocation = Revocation(time: time, reason: reason)
                return revoked
            }
        }
    }
}
