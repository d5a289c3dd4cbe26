import CampusAuthority
import CampusPKI
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func serviceCertificates() async throws -> [ServiceCertificateRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM service_certificate ORDER BY issued_at, serial").map(
                Self.serviceCertificate(from:))
        }
    }

    static func serviceCertificate(from row: Row) -> ServiceCertificateRecord {
        ServiceCertificateRecord(
            name: row["name"], serial: row["serial"],
            notValidBefore: Date(timeIntervalSince1970: row["not_before"]),
            notValidAfter: Date(timeIntervalSince1970: row["not_after"]),
            issuedAt: Date(timeIntervalSince1970: row["issued_at"]),
            revocation: (row["revoked_at"] as Double?).map { time in
                Revocation(
                    time: Date(timeIntervalSince1970: time),
                    reason: RevocationReason(rawValue: row["revocation_reason"] ?? "") ?? .cessationOfOperation)
            })
    }

    public func serviceCertificateStatus(ofSerial serial: String) async throws -> ServiceCertificateStatus {
        let found = try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM service_certificate WHERE serial = ?", arguments: [serial.lowercased()]
            ).map(Self.serviceCertificate(from:))
        }
        guard let found else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revokeServiceCertificates(
        serial: String?, name: String?, reason: RevocationReason, at time: Date
    ) async throws -> [ServiceCertificateRecord] {
        try await writer.write { db in
            let rows: [Row]
            if let serial {
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT * FROM service_certificate WHERE serial = ?", arguments: [serial.lowercased()])
                else { throw RegistryError.unknownSerial(serial) }
                guard (row["revoked_at"] as Double?) == nil else { throw RegistryError.alreadyRevoked(serial) }
                rows = [row]
            } else {
                rows = try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM service_certificate WHERE name = ? AND revoked_at IS NULL ORDER BY issued_at",
                    arguments: [name ?? ""])
            }
            return try rows.map { row in
                var record = Self.serviceCertificate(from: row)
                try db.execute(
                    sql: "UPDATE service_certificate SET revoked_at = ?, revocation_reason = ? WHERE serial = ?",
                    arguments: [time.timeIntervalSince1970, reason.rawValue, record.serial])
                record.revocation = Revocation(time: time, reason: reason)
                return record
            }
        }
    }

    public func probeWrite(at time: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO setting (name, value) VALUES ('readiness-probe', ?)",
                arguments: ["\(time.timeIntervalSince1970)"])
        }
    }
}
