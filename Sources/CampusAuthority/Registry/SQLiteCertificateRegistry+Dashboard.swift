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

    /// `valid`, `expired` or `not yet valid` at `time`.
    public func status(at time: Date = Date()) -> String {
        if time >= notValidAfter { return "expired" }
        if time < notValidBefore { return "not yet valid" }
        return "valid"
    }
}

extension SQLiteCertificateRegistry {
    /// The services' certificates, oldest first.
    public func serviceCertificates() async throws -> [ServiceCertificateRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM service_certificate ORDER BY issued_at, serial").map { row in
                ServiceCertificateRecord(
                    name: row["name"], serial: row["serial"],
                    notValidBefore: Date(timeIntervalSince1970: row["not_before"]),
                    notValidAfter: Date(timeIntervalSince1970: row["not_after"]),
                    issuedAt: Date(timeIntervalSince1970: row["issued_at"]))
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
