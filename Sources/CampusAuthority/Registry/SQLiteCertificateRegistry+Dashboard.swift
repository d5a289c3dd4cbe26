import CampusPKI
import Foundation
import GRDB

/// A service's certificate (Blackboard's), as the registry keeps it.
public struct ServiceCertificateRecord: Sendable, Hashable {
    /// The service's DNS name.
    public var name: String
    /// The serial number, lower-case hex.
    public var serial: String
    public var notValidBefore: Date
    public var notValidAfter: Date
    public var issuedAt: Date
    /// When and why it was revoked (`cuhk service revoke`), if it was.
    public var revocation: Revocation?

    /// `valid`, `expired`, `not yet valid` or `revoked (reason)` at `time`.
    public func status(at time: Date = Date()) -> String {
        if let revocation { return "revoked (\(revocation.reason.rawValue))" }
        if time >= notValidAfter { return "expired" }
        if time < notValidBefore { return "not yet valid" }
        return "valid"
    }
}

extension SQLiteCertificateRegistry {
    /// The services' certificates, oldest first.
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

    /// Revokes service certificates durably (`cuhk service revoke`): the one with `serial`, or every one not revoked
    /// yet for the DNS name `name`.
    ///
    /// - Returns: The certificates revoked now.
    /// - Throws: ``RegistryError/unknownSerial(_:)`` or ``RegistryError/alreadyRevoked(_:)`` for a serial.
    public func revokeServiceCertificates(
        serial: String? = nil, name: String? = nil, reason: RevocationReason, at time: Date
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

    /// Commits one small durable write (a readiness probe): throws when the database cannot take writes now.
    public func probeWrite(at time: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO setting (name, value) VALUES ('readiness-probe', ?)",
                arguments: ["\(time.timeIntervalSince1970)"])
        }
    }
}
