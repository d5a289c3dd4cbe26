import CampusPKI
import Foundation
import GRDB

/// The report store in SQLite (`blackboard.db`), WAL mode with `synchronous = FULL`: a returned write is on disk.
public final class SQLiteReportStore: ReportStore {
    public static let fileName = "blackboard.db"

    private let database: DatabasePool
    private let writer: GroupCommitWriter

    /// Opens (or creates) the store.
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
                        CREATE TABLE session (
                            id INTEGER PRIMARY KEY,
                            session_id BLOB NOT NULL UNIQUE,
                            sid TEXT NOT NULL,
                            certificate_serial TEXT NOT NULL,
                            peer TEXT NOT NULL,
                            started_at REAL NOT NULL,
                            status TEXT NOT NULL DEFAULT 'open',
                            failure TEXT
                        );
                        CREATE TABLE message (
                            session INTEGER NOT NULL REFERENCES session(id),
                            sequence INTEGER NOT NULL,
                            content BLOB NOT NULL,
                            mac BLOB NOT NULL,
                            received_at REAL NOT NULL,
                            PRIMARY KEY (session, sequence)
                        );
                        CREATE TABLE report (
                            id INTEGER PRIMARY KEY,
                            session INTEGER NOT NULL UNIQUE REFERENCES session(id),
                            sid TEXT NOT NULL,
                            certificate_serial TEXT NOT NULL,
                            message_count INTEGER NOT NULL,
                            total_bytes INTEGER NOT NULL,
                            digest BLOB NOT NULL,
                            completed_at REAL NOT NULL
                        );
                        CREATE INDEX report_sid ON report(sid);
                        """
                )
            }
        }
    }

    public func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        try await writer.write { db in
            var session = batch.storedSession ?? 0
            if batch.storedSession == nil {
                let record = batch.session
                try db.execute(
                    sql: """
                        INSERT INTO session (session_id, sid, certificate_serial, peer, started_at)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        Data(record.sessionID), record.studentID.rawValue, record.certificateSerial, record.peer,
                        record.startedAt.timeIntervalSince1970,
                    ]
                )
                session = db.lastInsertedRowID
            }
            let insertMessage = try db.cachedStatement(
                sql: "INSERT INTO message (session, sequence, content, mac, received_at) VALUES (?, ?, ?, ?, ?)"
            )
            for message in batch.messages {
                try insertMessage.execute(arguments: [
                    session, Int64(message.sequence), Data(message.content), Data(message.mac),
                    message.receivedAt.timeIntervalSince1970,
                ])
            }
            guard let summary = batch.report else { return SessionBatch.Stored(session: session, report: nil) }
            try db.execute(
                sql: """
                    INSERT INTO report (session, sid, certificate_serial, message_count, total_bytes, digest, completed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session, summary.studentID.rawValue, summary.certificateSerial, Int64(summary.messageCount),
                    Int64(summary.totalBytes), Data(summary.digest), summary.completedAt.timeIntervalSince1970,
                ]
            )
            let report = db.lastInsertedRowID
            try db.execute(sql: "UPDATE session SET status = 'complete' WHERE id = ?", arguments: [session])
            return SessionBatch.Stored(session: session, report: report)
        }
    }

    public func failSession(_ session: Int64, reason: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE session SET status = 'failed', failure = ? WHERE id = ? AND status = 'open'",
                arguments: [reason, session]
            )
        }
    }

    public func reports(for studentID: StudentID?) async throws -> [ReportSummary] {
        try await database.read { db in
            let select = """
                SELECT report.*, session.session_id FROM report JOIN session ON session.id = report.session
                """
            let rows =
                if let studentID {
                    try Row.fetchAll(
                        db, sql: select + " WHERE report.sid = ? ORDER BY report.id", arguments: [studentID.rawValue])
                } else {
                    try Row.fetchAll(db, sql: select + " ORDER BY report.id")
                }
            return rows.compactMap(Self.summary(from:))
        }
    }

    public func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT report.*, session.session_id FROM report JOIN session ON session.id = report.session
                        WHERE report.id = ?
                        """,
                    arguments: [id]
                ), let summary = Self.summary(from: row)
            else { return nil }
            let messages = try Row.fetchAll(
                db,
                sql: "SELECT * FROM message WHERE session = ? ORDER BY sequence",
                arguments: [row["session"] as Int64]
            ).map(Self.message(from:))
            return (summary, messages)
        }
    }

    /// Every stored message of a student's sessions, complete or not (sessions in the order they began): what an
    /// operator checks after a crash, since every acknowledged message must be here.
    public func messages(for studentID: StudentID) async throws -> [[StoredMessage]] {
        try await database.read { db in
            let sessions = try Int64.fetchAll(
                db, sql: "SELECT id FROM session WHERE sid = ? ORDER BY id", arguments: [studentID.rawValue])
            return try sessions.map { session in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM message WHERE session = ? ORDER BY sequence", arguments: [session]
                ).map(Self.message(from:))
            }
        }
    }

    private static func message(from row: Row) -> StoredMessage {
        StoredMessage(
            sequence: UInt64(row["sequence"] as Int64),
            content: [UInt8](row["content"] as Data),
            mac: [UInt8](row["mac"] as Data),
            receivedAt: Date(timeIntervalSince1970: row["received_at"])
        )
    }

    private static func summary(from row: Row) -> ReportSummary? {
        guard let studentID = StudentID(row["sid"] as String) else { return nil }
        return ReportSummary(
            id: row["id"],
            sessionID: [UInt8](row["session_id"] as Data),
            studentID: studentID,
            certificateSerial: row["certificate_serial"],
            messageCount: UInt64(row["message_count"] as Int64),
            totalBytes: UInt64(row["total_bytes"] as Int64),
            digest: [UInt8](row["digest"] as Data),
            completedAt: Date(timeIntervalSince1970: row["completed_at"])
        )
    }
}
