import CampusAdmin
import CampusAuthority
import CampusPKI
import Foundation
import GRDB

/// CUHK's store in SQLite (`cuhk.db`), in WAL mode with `synchronous = FULL`, so a returned ``record(_:)`` has
/// reached the disk. One CUHK (and the `cuhk` commands beside it) per file: several instances share a PostgreSQL
/// database instead.
public final class SQLiteAuthorityStore: AuthorityStore {
    public static let fileName = "cuhk.db"

    let database: DatabasePool
    let writer: GroupCommitWriter
    public let location: String

    /// Opens (or creates) the registry.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - checkWrites: Commit a write at once (servers), so a read-only database stops the program at start.
    /// - Throws: ``DurableDatabase/OpenError``, also when a newer version migrated the database.
    public init(path: String, checkWrites: Bool = true) throws {
        location = path
        (database, writer) = try DurableDatabase.open(path: path, checkWrites: checkWrites, program: "cuhk") {
            migrator in
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
            migrator.registerMigration("v2-revocation") { db in
                try db.execute(
                    sql: """
                        ALTER TABLE certificate ADD COLUMN revoked_at REAL;
                        ALTER TABLE certificate ADD COLUMN revocation_reason TEXT;
                        """
                )
            }
            migrator.registerMigration("v3-roster") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE roster (
                            sid TEXT PRIMARY KEY NOT NULL,
                            name TEXT NOT NULL,
                            email TEXT
                        );
                        CREATE TABLE enrollment_code (
                            sid TEXT PRIMARY KEY NOT NULL REFERENCES roster(sid) ON DELETE CASCADE,
                            code_hash BLOB NOT NULL,
                            issued_at REAL NOT NULL,
                            expires_at REAL NOT NULL,
                            used_at REAL
                        );
                        CREATE TABLE lockout (
                            sid TEXT PRIMARY KEY NOT NULL,
                            failures INTEGER NOT NULL,
                            locked_until REAL
                        );
                        CREATE TABLE setting (
                            name TEXT PRIMARY KEY NOT NULL,
                            value TEXT NOT NULL
                        );
                        CREATE TABLE service_certificate (
                            serial TEXT PRIMARY KEY NOT NULL,
                            name TEXT NOT NULL,
                            not_before REAL NOT NULL,
                            not_after REAL NOT NULL,
                            pem TEXT NOT NULL,
                            issued_at REAL NOT NULL
                        );
                        """
                )
            }
            migrator.registerMigration("certificate-authorization") { db in
                try db.execute(
                    sql: """
                        ALTER TABLE certificate ADD COLUMN authorization TEXT NOT NULL DEFAULT 'unknown';
                        ALTER TABLE certificate ADD COLUMN roster_authorized INTEGER NOT NULL DEFAULT 0;
                        """
                )
                try Self.inferAuthorizations(in: db)
            }
            migrator.registerMigration("service-certificate-revocation") { db in
                try db.execute(
                    sql: """
                        ALTER TABLE service_certificate ADD COLUMN revoked_at REAL;
                        ALTER TABLE service_certificate ADD COLUMN revocation_reason TEXT;
                        """
                )
            }
            Self.registerTimestampMigration(&migrator)
            migrator.registerMigration("v4-enrollment-channel") { db in
                // No row per student ID any more: wrong codes are throttled per source address, and only an
                // address that used up its attempts is written down.
                try db.execute(
                    sql: """
                        DROP TABLE lockout;
                        CREATE TABLE throttle (
                            address TEXT PRIMARY KEY NOT NULL,
                            since REAL NOT NULL,
                            until REAL NOT NULL
                        );
                        ALTER TABLE enrollment_code ADD COLUMN certificate_serial TEXT;
                        """
                )
            }
            migrator.registerMigration("v5-shared-instances") { db in
                // Wrong codes are counted here rather than in each process's memory, so that every CUHK sharing the
                // records counts against one budget; web interface sessions live here so that a login holds on every
                // instance.
                try db.execute(
                    sql: """
                        CREATE TABLE throttle_allowance (
                            address TEXT PRIMARY KEY NOT NULL,
                            tokens REAL NOT NULL,
                            updated REAL NOT NULL
                        );
                        CREATE INDEX throttle_allowance_updated ON throttle_allowance(updated);
                        CREATE TABLE admin_session (
                            session_key TEXT PRIMARY KEY NOT NULL,
                            csrf_token TEXT NOT NULL,
                            expires REAL NOT NULL
                        );
                        """
                )
            }
        }
    }

    public func record(_ certificate: IssuedCertificate) async throws {
        do {
            try await writer.write { db in try Self.insert(certificate, in: db) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(certificate.serial)
        }
    }

    public func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        UPDATE certificate SET revoked_at = ?, revocation_reason = ?
                        WHERE serial = ? AND revoked_at IS NULL
                        """,
                    arguments: [time.timeIntervalSince1970, RevocationReason.superseded.rawValue, serial])
                guard db.changesCount == 1 else { throw RegistryError.alreadyRevoked(serial) }
                try Self.insert(certificate, in: db)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(certificate.serial)
        }
    }

    public func renewal(of serial: String) async throws -> IssuedCertificate? {
        try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM certificate WHERE authorization = ? ORDER BY issued_at DESC LIMIT 1",
                arguments: [CertificateAuthorization.renewal(of: serial.lowercased()).stored]
            ).flatMap(Self.certificate(from:))
        }
    }

    public func recordServiceCertificate(
        name: String, serial: String, notValidBefore: Date, notValidAfter: Date, pem: String, issuedAt: Date
    ) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO service_certificate (serial, name, not_before, not_after, pem, issued_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        serial, name, notValidBefore.timeIntervalSince1970, notValidAfter.timeIntervalSince1970, pem,
                        issuedAt.timeIntervalSince1970,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(serial)
        }
    }

    static func insert(_ certificate: IssuedCertificate, in db: Database) throws {
        let rosterAuthorized: Bool =
            switch certificate.authorization {
            case .enrollmentCode: true
            case .renewal(let serial):
                try Bool.fetchOne(
                    db, sql: "SELECT roster_authorized FROM certificate WHERE serial = ?", arguments: [serial]) ?? false
            case .openEnrollment, .unknown: false
            }
        // Prepared once per connection: CUHK inserts one row per certificate it issues.
        try db.cachedStatement(
            sql: """
                INSERT INTO certificate
                    (serial, sid, not_before, not_after, pem, issued_at, authorization, roster_authorized)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                certificate.serial, certificate.studentID.rawValue,
                certificate.notValidBefore.timeIntervalSince1970,
                certificate.notValidAfter.timeIntervalSince1970, certificate.pem,
                certificate.issuedAt.timeIntervalSince1970, certificate.authorization.stored, rosterAuthorized,
            ]
        )
    }

    /// Fills in what authorized the certificates of a registry from before authorizations were recorded, where
    /// the registry proves it: a certificate recorded at the very instant a code of its student was used was paid
    /// for with it (CUHK records both in one transaction, with one time), and one recorded at the instant another
    /// certificate of its student was superseded renewed that one (an enrollment with a code supersedes too, but
    /// was matched first). The rest stay `unknown`, which does not count as enrolled under a roster.
    static func inferAuthorizations(in db: Database) throws {
        let rows = try Row.fetchAll(
            db, sql: "SELECT serial, sid, issued_at FROM certificate ORDER BY issued_at, serial")
        for row in rows {
            let serial: String = row["serial"]
            let sid: String = row["sid"]
            let issuedAt: Double = row["issued_at"]
            let paid =
                try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM enrollment_code WHERE sid = ? AND used_at = ?", arguments: [sid, issuedAt])
                ?? false
            if paid {
                try db.execute(
                    sql: """
                        UPDATE certificate SET authorization = 'enrollment-code', roster_authorized = 1
                        WHERE serial = ?
                        """,
                    arguments: [serial])
                continue
            }
            if let renewed = try Row.fetchOne(
                db,
                sql: """
                    SELECT serial, roster_authorized FROM certificate
                    WHERE sid = ? AND serial != ? AND revoked_at = ? AND revocation_reason = 'superseded'
                    """,
                arguments: [sid, serial, issuedAt])
            {
                try db.execute(
                    sql: "UPDATE certificate SET authorization = ?, roster_authorized = ? WHERE serial = ?",
                    arguments: [
                        CertificateAuthorization.renewal(of: renewed["serial"]).stored,
                        renewed["roster_authorized"] as Bool, serial,
                    ])
            }
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
            return rows.compactMap(Self.certificate(from:))
        }
    }

    public func status(ofSerial serial: String) async throws -> CertificateStatus {
        let found = try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM certificate WHERE serial = ?", arguments: [serial.lowercased()])
                .flatMap(Self.certificate(from:))
        }
        guard let found else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate {
        try await writer.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM certificate WHERE serial = ?", arguments: [serial.lowercased()]),
                var certificate = Self.certificate(from: row)
            else { throw RegistryError.unknownSerial(serial) }
            guard certificate.revocation == nil else { throw RegistryError.alreadyRevoked(serial) }
            try Self.markRevoked(certificate.serial, reason: reason, at: time, in: db)
            certificate.revocation = Revocation(time: time, reason: reason)
            return certificate
        }
    }

    public func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
        -> [IssuedCertificate]
    {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM certificate WHERE sid = ? AND revoked_at IS NULL ORDER BY issued_at, serial",
                arguments: [studentID.rawValue])
            return try rows.compactMap(Self.certificate(from:)).map { certificate in
                try Self.markRevoked(certificate.serial, reason: reason, at: time, in: db)
                var revoked = certificate
                revoked.revocation = Revocation(time: time, reason: reason)
                return revoked
            }
        }
    }

    public func revokedSerials() async throws -> [RevokedSerial] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT serial, revoked_at, revocation_reason FROM certificate WHERE revoked_at IS NOT NULL
                    ORDER BY revoked_at, serial
                    """
            ).map { row in
                RevokedSerial(
                    serial: row["serial"],
                    revocation: Revocation(
                        time: Date(timeIntervalSince1970: row["revoked_at"]),
                        reason: RevocationReason(rawValue: row["revocation_reason"] ?? "") ?? .cessationOfOperation))
            }
        }
    }

    static func markRevoked(_ serial: String, reason: RevocationReason, at time: Date, in db: Database)
        throws
    {
        try db.execute(
            sql: "UPDATE certificate SET revoked_at = ?, revocation_reason = ? WHERE serial = ?",
            arguments: [time.timeIntervalSince1970, reason.rawValue, serial])
    }

    static func certificate(from row: Row) -> IssuedCertificate? {
        guard let sid = StudentID(row["sid"] as String) else { return nil }
        let revocation = (row["revoked_at"] as Double?).map { time in
            Revocation(
                time: Date(timeIntervalSince1970: time),
                reason: RevocationReason(rawValue: row["revocation_reason"] ?? "") ?? .cessationOfOperation)
        }
        return IssuedCertificate(
            serial: row["serial"],
            studentID: sid,
            notValidBefore: Date(timeIntervalSince1970: row["not_before"]),
            notValidAfter: Date(timeIntervalSince1970: row["not_after"]),
            pem: row["pem"],
            issuedAt: Date(timeIntervalSince1970: row["issued_at"]),
            revocation: revocation,
            authorization: CertificateAuthorization(stored: row["authorization"]),
            isRosterAuthorized: row["roster_authorized"]
        )
    }
}
