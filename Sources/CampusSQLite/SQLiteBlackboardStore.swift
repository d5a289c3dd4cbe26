import CampusAdmin
import CampusBlackboard
import CampusPKI
import Foundation
import GRDB

/// Blackboard's store in SQLite (`blackboard.db`), WAL mode with `synchronous = FULL`: a returned write is on disk.
/// One Blackboard (and the `blackboard` commands beside it) per file: several instances share a PostgreSQL database
/// instead.
public final class SQLiteBlackboardStore: BlackboardStore {
    public static let fileName = "blackboard.db"

    private let database: DatabasePool
    private let writer: GroupCommitWriter
    /// The connection that reads a handshake's context on the handshake's own thread (``sessionContext(for:requesting:at:)``).
    private let handshakeReader: DatabaseQueue
    public let location: String

    /// Opens (or creates) the store.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - checkWrites: Commit a write at once (servers), so a read-only database stops the program at start.
    /// - Throws: ``DurableDatabase/OpenError``, also when a newer version migrated the database.
    public init(path: String, checkWrites: Bool = true) throws {
        location = path
        (database, writer) = try DurableDatabase.open(path: path, checkWrites: checkWrites, program: "blackboard") {
            migrator in
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
            migrator.registerMigration("v2 assignments and signed receipts") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE assignment (
                            id INTEGER PRIMARY KEY,
                            name TEXT NOT NULL UNIQUE,
                            deadline REAL,
                            late TEXT NOT NULL CHECK (late IN ('accept', 'refuse')),
                            open INTEGER NOT NULL DEFAULT 1,
                            created_at REAL NOT NULL
                        );
                        ALTER TABLE session ADD COLUMN assignment TEXT NOT NULL DEFAULT 'report';
                        ALTER TABLE report ADD COLUMN assignment TEXT NOT NULL DEFAULT 'report';
                        ALTER TABLE report ADD COLUMN deadline REAL;
                        ALTER TABLE report ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
                        ALTER TABLE report ADD COLUMN receipt BLOB NOT NULL DEFAULT x'';
                        CREATE INDEX report_assignment ON report(assignment, sid);
                        """
                )
                try db.execute(
                    sql: "INSERT INTO assignment (name, deadline, late, created_at) VALUES (?, NULL, 'accept', ?)",
                    arguments: [Assignment.defaultName, Date().timeIntervalSince1970])
            }
            migrator.registerMigration("v3 roster") { db in
                try db.execute(sql: "CREATE TABLE roster (sid TEXT PRIMARY KEY, name TEXT NOT NULL)")
            }
            migrator.registerMigration("v4 storage limits") { db in
                // Each session's bytes of content, kept up to date by every commit, so that a student's total is one
                // sum over the student's sessions.
                try db.execute(
                    sql: """
                        ALTER TABLE session ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
                        UPDATE session SET stored_bytes =
                            (SELECT coalesce(sum(length(content)), 0) FROM message WHERE message.session = session.id);
                        CREATE INDEX session_sid ON session(sid);
                        """
                )
            }
            migrator.registerMigration("v5 file names") { db in
                try db.execute(
                    sql: """
                        ALTER TABLE report ADD COLUMN file_name TEXT;
                        ALTER TABLE report ADD COLUMN content_type TEXT;
                        """
                )
            }
            migrator.registerMigration("v6 revocations") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE revocation (
                            serial TEXT PRIMARY KEY NOT NULL,
                            revoked_at REAL NOT NULL,
                            reason_code INTEGER,
                            learned_at REAL NOT NULL
                        )
                        """
                )
            }
            migrator.registerMigration("v7 timestamps and manifests") { db in
                // Report numbers come from a counter, so that one can be reserved before its report is committed.
                try db.execute(
                    sql: """
                        CREATE TABLE report_number (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
                        INSERT INTO report_number (id, next) SELECT 1, coalesce(max(id), 0) + 1 FROM report;
                        ALTER TABLE report ADD COLUMN timestamped_at REAL;
                        CREATE TABLE manifest (
                            assignment TEXT NOT NULL,
                            kind TEXT NOT NULL CHECK (kind IN ('on-time', 'late')),
                            bundle BLOB NOT NULL,
                            timestamped_at REAL NOT NULL,
                            recorded_at REAL NOT NULL,
                            PRIMARY KEY (assignment, kind)
                        );
                        """
                )
            }
            migrator.registerMigration("v8 web sessions") { db in
                // Web interface sessions live here, so that a restart keeps the staff logged in.
                try db.execute(
                    sql: """
                        CREATE TABLE admin_session (
                            session_key TEXT PRIMARY KEY NOT NULL,
                            csrf_token TEXT NOT NULL,
                            expires REAL NOT NULL
                        );
                        """
                )
            }
        }
        handshakeReader = try DurableDatabase.openReader(path: path)
    }

    public func assignments() async throws -> [Assignment] {
        try await database.read(Self.assignments(in:))
    }

    private static func assignments(in db: Database) throws -> [Assignment] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM assignment ORDER BY id")).map(assignment(from:))
    }

    public func addAssignment(_ assignment: Assignment) async throws {
        try await writer.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM assignment WHERE name = ?", arguments: [assignment.name])
                == true
            {
                throw CampusError(.malformedRequest, "an assignment named \(assignment.name) exists already")
            }
            try db.execute(
                sql: "INSERT INTO assignment (name, deadline, late, open, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    assignment.name, assignment.deadline?.timeIntervalSince1970, assignment.late.rawValue,
                    assignment.isOpen, Date().timeIntervalSince1970,
                ])
        }
    }

    public func closeAssignment(named name: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE assignment SET open = 0 WHERE name = ? AND open = 1", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func usage(of studentID: StudentID, in assignment: String) async throws -> StudentUsage {
        try await database.read { db in try Self.usage(of: studentID, in: assignment, db) }
    }

    /// Both of a handshake's reads in one read transaction, with statements prepared once per connection.
    ///
    /// The read runs on the calling thread, on a connection of its own: a read from the pool would hop to a reader's
    /// queue and back (two thread wake-ups per handshake). The short read may block the calling thread; only other
    /// handshake reads wait for this connection, and each of them finishes without waiting for anything else, so
    /// none of them can be waiting for a thread that this one blocks.
    public func sessionContext(for studentID: StudentID, requesting name: String, at now: Date) async throws
        -> (Assignment, StudentUsage)
    {
        try Self.readHere(handshakeReader) { db in
            let assignment = try Assignment.resolve(name, among: try Self.assignments(in: db), now: now)
            return (assignment, try Self.usage(of: studentID, in: assignment.name, db))
        }
    }

    /// A read transaction on the calling thread (a synchronous function, so the synchronous `inDatabase` is the one
    /// called), begun and ended with statements prepared once per connection: GRDB's `read` prepares its `BEGIN` and
    /// `COMMIT` anew each time, about a third of the handshake's work in SQLite.
    private static func readHere<T>(_ reader: DatabaseQueue, _ body: (Database) throws -> T) throws -> T {
        try reader.inDatabase { db in
            // A transaction left open by a failure below would make every later `BEGIN` fail.
            if db.isInsideTransaction { try db.rollback() }
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            let result: T
            do {
                result = try body(db)
            } catch {
                // A read changed nothing; the body's error is the one to report.
                if db.isInsideTransaction { try? db.rollback() }
                throw error
            }
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        }
    }

    private static func usage(of studentID: StudentID, in assignment: String, _ db: Database) throws -> StudentUsage {
        StudentUsage(
            reportsInAssignment: try reports(of: studentID, in: assignment, db),
            storedBytes: try storedBytes(of: studentID, db))
    }

    /// The student's complete reports in `assignment`.
    private static func reports(of studentID: StudentID, in assignment: String, _ db: Database) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(sql: "SELECT count(*) FROM report WHERE sid = ? AND assignment = ?"),
            arguments: [studentID.rawValue, assignment]) ?? 0
    }

    /// The bytes of message content the student stored in every session.
    private static func storedBytes(of studentID: StudentID, _ db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT coalesce(sum(stored_bytes), 0) FROM session WHERE sid = ?"),
            arguments: [studentID.rawValue]) ?? 0
    }

    public func recordRevocations(_ revocations: [LearnedRevocation]) async throws {
        guard !revocations.isEmpty else { return }
        try await writer.write { db in
            for revocation in revocations {
                try db.execute(
                    sql: """
                        INSERT INTO revocation (serial, revoked_at, reason_code, learned_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(serial) DO NOTHING
                        """,
                    arguments: [
                        revocation.serial, revocation.revokedAt.timeIntervalSince1970, revocation.reasonCode,
                        revocation.learnedAt.timeIntervalSince1970,
                    ])
            }
        }
    }

    public func revocations() async throws -> [LearnedRevocation] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM revocation ORDER BY learned_at, serial").map { row in
                LearnedRevocation(
                    serial: row["serial"], revokedAt: Date(timeIntervalSince1970: row["revoked_at"]),
                    reasonCode: row["reason_code"], learnedAt: Date(timeIntervalSince1970: row["learned_at"]))
            }
        }
    }

    public func roster() async throws -> [RosterEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT sid, name FROM roster ORDER BY sid").compactMap { row in
                StudentID(row["sid"] as String).map { RosterEntry(studentID: $0, name: row["name"]) }
            }
        }
    }

    public func importRoster(_ entries: [RosterEntry]) async throws -> Int {
        try await writer.write { db in
            for entry in entries {
                try db.execute(
                    sql:
                        "INSERT INTO roster (sid, name) VALUES (?, ?) ON CONFLICT(sid) DO UPDATE SET name = excluded.name",
                    arguments: [entry.studentID.rawValue, entry.name])
            }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM roster") ?? 0
        }
    }

    public func probeWrite() async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO last_opened (id, opened_at) VALUES (1, julianday('now'))")
        }
    }

    private static func assignment(from row: Row) -> Assignment {
        Assignment(
            name: row["name"],
            deadline: (row["deadline"] as Double?).map(Date.init(timeIntervalSince1970:)),
            late: Assignment.LatePolicy(rawValue: row["late"]) ?? .accept,
            isOpen: row["open"]
        )
    }

    public func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        try await writer.write { db in
            var session = batch.storedSession ?? 0
            // The assignment as it is now, in this transaction: closing it ends what every open session may store.
            let current = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM assignment WHERE name = ?"),
                arguments: [batch.session.assignment.name]
            ).map(Self.assignment(from:))
            try batch.checkAssignment(current)
            let record = batch.session
            let sessionBytes =
                try batch.storedSession.flatMap {
                    try Int64.fetchOne(
                        db.cachedStatement(sql: "SELECT stored_bytes FROM session WHERE id = ?"), arguments: [$0])
                } ?? 0
            let studentBytes = try Self.storedBytes(of: record.studentID, db)
            let reports =
                batch.report == nil ? 0 : try Self.reports(of: record.studentID, in: record.assignment.name, db)
            try batch.checkLimits(sessionBytes: sessionBytes, studentBytes: studentBytes, reportsInAssignment: reports)
            if batch.storedSession == nil {
                try db.execute(
                    sql: """
                        INSERT INTO session (session_id, sid, certificate_serial, peer, started_at, assignment)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        Data(record.sessionID), record.studentID.rawValue, record.certificateSerial, record.peer,
                        record.startedAt.timeIntervalSince1970, record.assignment.name,
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
            if !batch.messages.isEmpty {
                try db.cachedStatement(sql: "UPDATE session SET stored_bytes = stored_bytes + ? WHERE id = ?")
                    .execute(arguments: [batch.contentBytes, session])
            }
            guard batch.report != nil else { return SessionBatch.Stored(session: session, report: nil) }
            // A number reserved before, or the next one now (rolled back with the rest if the commit is refused); the
            // receipt names it, so it is signed before the insert.
            let number = try batch.reservedNumber ?? Self.allocateNumber(db)
            guard let summary = try batch.finishedReport(number: number, at: Date(), assignment: current) else {
                return SessionBatch.Stored(session: session, report: nil)
            }
            try db.execute(
                sql: """
                    INSERT INTO report (id, session, sid, certificate_serial, message_count, total_bytes, digest,
                        completed_at, assignment, deadline, late, receipt, file_name, content_type, timestamped_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    number, session, summary.studentID.rawValue, summary.certificateSerial, Int64(summary.messageCount),
                    Int64(summary.totalBytes), Data(summary.digest), summary.completedAt.timeIntervalSince1970,
                    summary.assignment, summary.deadline?.timeIntervalSince1970, summary.isLate, Data(summary.receipt),
                    summary.file?.name, summary.file?.contentType, summary.timestampedAt?.timeIntervalSince1970,
                ]
            )
            try db.execute(sql: "UPDATE session SET status = 'complete' WHERE id = ?", arguments: [session])
            return SessionBatch.Stored(session: session, report: summary)
        }
    }

    /// The next report number from the counter, which moves past it.
    private static func allocateNumber(_ db: Database) throws -> Int64 {
        let number = try Int64.fetchOne(db, sql: "SELECT next FROM report_number WHERE id = 1") ?? 1
        try db.execute(sql: "UPDATE report_number SET next = ? WHERE id = 1", arguments: [number + 1])
        return number
    }

    public func reserveReportNumber() async throws -> Int64 {
        try await writer.write { db in try Self.allocateNumber(db) }
    }

    public func recordManifest(_ manifest: StoredManifest) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO manifest (assignment, kind, bundle, timestamped_at, recorded_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(assignment, kind) DO NOTHING
                    """,
                arguments: [
                    manifest.assignment, manifest.kind.rawValue, Data(manifest.bundle.bytes),
                    manifest.timestampedAt.timeIntervalSince1970, manifest.recordedAt.timeIntervalSince1970,
                ])
            return db.changesCount > 0
        }
    }

    public func manifests(of assignment: String?) async throws -> [StoredManifest] {
        try await database.read { db in
            let rows =
                if let assignment {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM manifest WHERE assignment = ? ORDER BY rowid", arguments: [assignment])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM manifest ORDER BY rowid")
                }
            return try rows.compactMap { row -> StoredManifest? in
                guard let kind = ManifestDocument.Kind(rawValue: row["kind"]) else { return nil }
                return StoredManifest(
                    assignment: row["assignment"], kind: kind,
                    bundle: try ManifestBundle(parsing: [UInt8](row["bundle"] as Data)),
                    timestampedAt: Date(timeIntervalSince1970: row["timestamped_at"]),
                    recordedAt: Date(timeIntervalSince1970: row["recorded_at"]))
            }
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

    public func incompleteAttempts(for studentID: StudentID?) async throws -> [IncompleteAttempt] {
        try await database.read { db in
            let select = """
                SELECT session.*, (SELECT count(*) FROM message WHERE message.session = session.id) AS messages
                FROM session WHERE status != 'complete'
                  AND EXISTS (SELECT 1 FROM message WHERE message.session = session.id)
                """
            let rows =
                if let studentID {
                    try Row.fetchAll(db, sql: select + " AND sid = ? ORDER BY id", arguments: [studentID.rawValue])
                } else {
                    try Row.fetchAll(db, sql: select + " ORDER BY id")
                }
            return rows.compactMap { row -> IncompleteAttempt? in
                guard let studentID = StudentID(row["sid"] as String) else { return nil }
                let status = row["status"] as String
                return IncompleteAttempt(
                    session: row["id"], studentID: studentID, certificateSerial: row["certificate_serial"],
                    assignment: row["assignment"], startedAt: Date(timeIntervalSince1970: row["started_at"]),
                    messageCount: row["messages"], storedBytes: row["stored_bytes"],
                    status: status == "failed" ? .failed(row["failure"] ?? "") : .open)
            }
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
            completedAt: Date(timeIntervalSince1970: row["completed_at"]),
            assignment: row["assignment"],
            deadline: (row["deadline"] as Double?).map(Date.init(timeIntervalSince1970:)),
            isLate: row["late"],
            receipt: [UInt8](row["receipt"] as Data),
            // Checked when it arrived; read again through the same rules, so nothing else reaches a path or a header.
            file: (row["file_name"] as String?).flatMap { name in
                try? SubmittedFile(name: name, contentType: row["content_type"] ?? "")
            },
            timestampedAt: (row["timestamped_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        )
    }
}

extension SQLiteBlackboardStore {
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
