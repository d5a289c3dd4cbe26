import CampusAuthority
import CampusPKI
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func importRoster(_ entries: [RosterEntry]) async throws -> (added: Int, updated: Int) {
        try await writer.write { db in
            var added = 0
            var updated = 0
            for entry in entries {
                let known =
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM roster WHERE sid = ?", arguments: [entry.studentID.rawValue]) ?? false
                try db.execute(
                    sql: """
                        INSERT INTO roster (sid, name, email) VALUES (?, ?, ?)
                        ON CONFLICT(sid) DO UPDATE SET name = excluded.name, email = excluded.email
                        """,
                    arguments: [entry.studentID.rawValue, entry.name, entry.email])
                if known { updated += 1 } else { added += 1 }
            }
            return (added, updated)
        }
    }

    public func rosterEntries() async throws -> [RosterEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM roster ORDER BY sid").compactMap { row in
                StudentID(row["sid"] as String).map {
                    RosterEntry(studentID: $0, name: row["name"], email: row["email"])
                }
            }
        }
    }

    public func removeFromRoster(_ studentID: StudentID) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM enrollment_code WHERE sid = ?", arguments: [studentID.rawValue])
            try db.execute(sql: "DELETE FROM roster WHERE sid = ?", arguments: [studentID.rawValue])
            return db.changesCount > 0
        }
    }

    public func storeCode(_ code: EnrollmentCode, for studentID: StudentID, issuedAt: Date, expiresAt: Date)
        async throws -> Bool
    {
        try await writer.write { db in
            guard
                try Bool.fetchOne(db, sql: "SELECT 1 FROM roster WHERE sid = ?", arguments: [studentID.rawValue])
                    ?? false
            else { return false }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO enrollment_code (sid, code_hash, issued_at, expires_at, used_at)
                    VALUES (?, ?, ?, ?, NULL)
                    """,
                arguments: [
                    studentID.rawValue, Data(code.hash), issuedAt.timeIntervalSince1970,
                    expiresAt.timeIntervalSince1970,
                ])
            return true
        }
    }

    public func codes() async throws -> [CodeRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM enrollment_code ORDER BY sid").map(Self.codeRecord(from:))
        }
    }

    public func code(for studentID: StudentID) async throws -> CodeRecord? {
        try await database.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT enrollment_code.* FROM enrollment_code JOIN roster ON roster.sid = enrollment_code.sid
                        WHERE enrollment_code.sid = ?
                        """),
                arguments: [studentID.rawValue]
            ).map(Self.codeRecord(from:))
        }
    }

    static func codeRecord(from row: Row) -> CodeRecord {
        CodeRecord(
            studentID: row["sid"],
            issuedAt: Date(timeIntervalSince1970: row["issued_at"]),
            expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
            usedAt: (row["used_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            hash: [UInt8](row["code_hash"] as Data),
            certificateSerial: row["certificate_serial"])
    }

    public func record(_ certificate: IssuedCertificate, consumingCode codeHash: [UInt8], at time: Date) async throws {
        do {
            try await writer.write { db in
                try db.cachedStatement(
                    sql: """
                        UPDATE enrollment_code SET used_at = ?, certificate_serial = ?
                        WHERE sid = ? AND code_hash = ? AND used_at IS NULL AND expires_at > ?
                        """
                ).execute(
                    arguments: [
                        time.timeIntervalSince1970, certificate.serial, certificate.studentID.rawValue,
                        Data(codeHash), time.timeIntervalSince1970,
                    ])
                guard db.changesCount == 1 else { throw RegistryError.codeAlreadyUsed }
                let earlier = try String.fetchAll(
                    db.cachedStatement(sql: "SELECT serial FROM certificate WHERE sid = ? AND revoked_at IS NULL"),
                    arguments: [certificate.studentID.rawValue])
                for serial in earlier { try Self.markRevoked(serial, reason: .superseded, at: time, in: db) }
                try Self.insert(certificate, in: db)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(certificate.serial)
        }
    }
}
