import CampusAdmin
import CampusAuthority
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func recordAdminSession(_ session: AdminSessionRecord) async throws {
        try await writer.write { db in try SQLiteAdminSessions.record(session, in: db) }
    }

    public func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        try await database.read { db in try SQLiteAdminSessions.session(key: key, at: time, in: db) }
    }

    public func removeAdminSession(key: String) async throws {
        try await writer.write { db in try SQLiteAdminSessions.remove(key: key, in: db) }
    }

    public func removeAllAdminSessions() async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM admin_session WHERE expires > ?", arguments: [Date().timeIntervalSince1970])
            let ended = db.changesCount
            try db.execute(sql: "DELETE FROM admin_session")
            return ended
        }
    }
}

/// The web interface's sessions in an `admin_session` table, CUHK's and Blackboard's alike, by their keys (never
/// the session IDs themselves).
enum SQLiteAdminSessions {
    static func record(_ session: AdminSessionRecord, in db: Database) throws {
        try db.execute(sql: "DELETE FROM admin_session WHERE expires <= ?", arguments: [Date().timeIntervalSince1970])
        try db.execute(
            sql: "INSERT OR REPLACE INTO admin_session (session_key, csrf_token, expires) VALUES (?, ?, ?)",
            arguments: [session.key, session.csrfToken, session.expires.timeIntervalSince1970])
    }

    static func session(key: String, at time: Date, in db: Database) throws -> AdminSessionRecord? {
        try Row.fetchOne(
            db, sql: "SELECT csrf_token, expires FROM admin_session WHERE session_key = ? AND expires > ?",
            arguments: [key, time.timeIntervalSince1970]
        ).map { row in
            AdminSessionRecord(
                key: key, csrfToken: row["csrf_token"], expires: Date(timeIntervalSince1970: row["expires"]))
        }
    }

    static func remove(key: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM admin_session WHERE session_key = ?", arguments: [key])
    }
}
