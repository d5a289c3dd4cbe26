import CampusPKI
import Foundation
import GRDB

/// The registry in SQLite (`cuhk.db`), in WAL mode with `synchronous = FULL`, so a returned ``record(_:)`` has
/// reached the disk.
public final class SQLiteCertificateRegistry: CertificateRegistry {
    public static let fileName = "cuhk.db"

    private let database: DatabasePool
    private let writer: GroupCommitWriter

    /// Opens (or creates) the registry.
    ///
    /// - Parameter path: The database file.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - checkWrites: Commit a write at once (servers), so a read-only database stops the program at start.
    /// - Throws: ``DurableDatabase/OpenError``.
    public init(path: String, checkWrites: Bool = true) throws {
        (database, writer) = try DurableDatabase.open(path: path, checkWrites: checkWrites) { migrator in
            migrator.registerMigration("v1") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE certificate (
                            serial TEXT PRIMARY KEY NOT NULL,
                            sid TEXT NOT NULL,
                            not_before REAL NOT NULL,
                            not_after REAL NOT NULL,
                            pem TEXT NOT NULL,
                            issued_at REAL NOT NULL
                        );
                        CREATE INDEX certificate_sid ON certificate(sid);
                        """
                )
            }
        }
    }

    public func record(_ certificate: IssuedCertificate) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO certificate (serial, sid, not_before, not_after, pem, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        certificate.serial, certificate.studentID.rawValue,
                        certificate.notValidBefore.timeIntervalSince1970,
                        certificate.notValidAfter.timeIntervalSince1970, certificate.pem,
                        certificate.issuedAt.timeIntervalSince1970,
                    ]
                )
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(certificate.serial)
        }
    }

    public func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] {
        try await database.read { db in
            let rows: [Row]
            if let studentID {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM certificate WHERE sid = ? ORDER BY issued_at, serial",
                    arguments: [studentID.rawValue])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM certificate ORDER BY issued_at, serial")
            }
            return rows.compactMap { row in
                guard let sid = StudentID(row["sid"] as String) else { return nil }
                return IssuedCertificate(
                    serial: row["serial"],
                    studentID: sid,
                    notValidBefore: Date(timeIntervalSince1970: row["not_before"]),
                    notValidAfter: Date(timeIntervalSince1970: row["not_after"]),
                    pem: row["pem"],
                    issuedAt: Date(timeIntervalSince1970: row["issued_at"])
                )
            }
        }
    }
}
