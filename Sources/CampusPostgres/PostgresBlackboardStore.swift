import CampusAdmin
import CampusBlackboard
import CampusPKI
import Foundation
import Logging
import PostgresNIO

/// Blackboard's store in PostgreSQL (schema `blackboard` by default), shared by every Blackboard instance that names
/// the database.
///
/// A batch is one transaction. It first takes an advisory lock on the student, so one student's commits are counted
/// one after another whichever instances hold their sessions (quotas and the report count are exact), and a report
/// takes its number from the sequence `report_number`: unique across instances, increasing, with a gap where a commit
/// that took one failed.
public final class PostgresBlackboardStore: BlackboardStore {
    let database: PostgresDatabase
    var logger: Logger { database.logger }

    public var location: String { database.location }

    init(database: PostgresDatabase) {
        self.database = database
    }

    /// Migrates the schema (under an advisory lock), records the opening, and returns the store.
    ///
    /// - Throws: ``StorageOpenError`` when the schema is newer than this version knows; ``StorageUnavailable``.
    public static func open(_ database: PostgresDatabase) async throws -> PostgresBlackboardStore {
        try await database.migrate(migrations, program: "blackboard")
        let store = PostgresBlackboardStore(database: database)
        try await store.probeWrite()
        return store
    }

    /// Messages per `INSERT`, well under PostgreSQL's 65,535 parameters.
    static let messagesPerStatement = 1_000

    /// The schema's migrations, oldest first. Times are seconds since 1970 (`DOUBLE PRECISION`), as in
    /// `blackboard.db`.
    static let migrations = [
        PostgresMigration(
            "blackboard initial",
            [
                """
                CREATE TABLE assignment (
                    id BIGSERIAL PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    deadline DOUBLE PRECISION,
                    late TEXT NOT NULL CHECK (late IN ('accept', 'refuse')),
                    open BOOLEAN NOT NULL DEFAULT TRUE,
                    created_at DOUBLE PRECISION NOT NULL
                )
                """,
                """
                INSERT INTO assignment (name, deadline, late, created_at)
                VALUES ('\(Assignment.defaultName)', NULL, 'accept', extract(epoch FROM now()))
                """,
                """
                CREATE TABLE session (
                    id BIGSERIAL PRIMARY KEY,
                    session_id BYTEA NOT NULL UNIQUE,
                    sid TEXT NOT NULL,
                    certificate_serial TEXT NOT NULL,
                    peer TEXT NOT NULL,
                    started_at DOUBLE PRECISION NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open',
                    failure TEXT,
                    assignment TEXT NOT NULL,
                    stored_bytes BIGINT NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX session_sid ON session (sid)",
                """
                CREATE TABLE message (
                    session BIGINT NOT NULL REFERENCES session (id),
                    sequence BIGINT NOT NULL,
                    content BYTEA NOT NULL,
                    mac BYTEA NOT NULL,
                    received_at DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (session, sequence)
                )
                """,
                "CREATE SEQUENCE report_number",
                """
                CREATE TABLE report (
                    id BIGINT PRIMARY KEY,
                    session BIGINT NOT NULL UNIQUE REFERENCES session (id),
                    sid TEXT NOT NULL,
                    certificate_serial TEXT NOT NULL,
                    message_count BIGINT NOT NULL,
                    total_bytes BIGINT NOT NULL,
                    digest BYTEA NOT NULL,
                    completed_at DOUBLE PRECISION NOT NULL,
                    assignment TEXT NOT NULL,
                    deadline DOUBLE PRECISION,
                    late BOOLEAN NOT NULL,
                    receipt BYTEA NOT NULL,
                    file_name TEXT,
                    content_type TEXT
                )
                """,
                "CREATE INDEX report_sid ON report (sid)",
                "CREATE INDEX report_assignment ON report (assignment, sid)",
                "CREATE TABLE roster (sid TEXT PRIMARY KEY, name TEXT NOT NULL)",
                """
                CREATE TABLE revocation (
                    serial TEXT PRIMARY KEY,
                    revoked_at DOUBLE PRECISION NOT NULL,
                    reason_code INTEGER,
                    learned_at DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE admin_session (
                    session_key TEXT PRIMARY KEY,
                    csrf_token TEXT NOT NULL,
                    expires DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE last_opened (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    opened_at DOUBLE PRECISION NOT NULL
                )
                """,
            ]),
        PostgresMigration(
            "blackboard timestamps and manifests",
            [
                "ALTER TABLE report ADD COLUMN timestamped_at DOUBLE PRECISION",
                """
                CREATE TABLE manifest (
                    seq BIGSERIAL UNIQUE,
                    assignment TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('on-time', 'late')),
                    bundle BYTEA NOT NULL,
                    timestamped_at DOUBLE PRECISION NOT NULL,
                    recorded_at DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (assignment, kind)
                )
                """,
            ]),
    ]

    // MARK: Assignments

    public func assignments() async throws -> [Assignment] {
        try await database.rows("SELECT * FROM assignment ORDER BY id").map(Self.assignment(from:))
    }

    public func addAssignment(_ assignment: Assignment) async throws {
        do {
            _ = try await database.rows(
                """
                INSERT INTO assignment (name, deadline, late, open, created_at)
                VALUES (\(assignment.name), \(assignment.deadline?.timeIntervalSince1970), \(assignment.late.rawValue),
                    \(assignment.isOpen), \(Date().timeIntervalSince1970))
                """)
        } catch let error as PSQLError where error.isUniqueViolation {
            throw CampusError(.malformedRequest, "an assignment named \(assignment.name) exists already")
        }
    }

    public func closeAssignment(named name: String) async throws -> Bool {
        try await database.rows("UPDATE assignment SET open = FALSE WHERE name = \(name) AND open RETURNING id")
            .count > 0
    }

    static func assignment(from row: PostgresRandomAccessRow) throws -> Assignment {
        Assignment(
            name: try row.value("name"), deadline: try row.optionalDate("deadline"),
            late: Assignment.LatePolicy(rawValue: try row.value("late")) ?? .accept, isOpen: try row.value("open"))
    }

    // MARK: Sessions, messages and reports

    public func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        let logger = logger
        return try await database.transaction { connection in
            let record = batch.session
            let sid = record.studentID.rawValue
            // One student's commits one at a time, whichever instances hold the sessions: the counts below are exact.
            try await connection.run("SELECT pg_advisory_xact_lock(hashtext(\("campuspki-student:" + sid)))", logger)
            // After the lock, in one statement (one round trip, its snapshot taken once the lock is held): the
            // assignment as it is now (closing it ends what every open session may store), and what the student's
            // limits are checked against. One row, whether or not the assignment exists.
            let name = record.assignment.name
            let checks = try await connection.rows(
                """
                SELECT a.name, a.deadline, a.late, a.open,
                    (SELECT stored_bytes FROM session WHERE id = \(batch.storedSession)) AS session_bytes,
                    (SELECT coalesce(sum(stored_bytes), 0)::BIGINT FROM session WHERE sid = \(sid)) AS student_bytes,
                    (SELECT count(*) FROM report WHERE sid = \(sid) AND assignment = \(name)) AS reports
                FROM (VALUES (1)) AS one LEFT JOIN assignment a ON a.name = \(name)
                """, logger)
            guard let row = checks.first else {
                throw CampusError(.internalError, "the commit's checks returned no row")
            }
            let current = try row.value("name", as: String?.self) == nil ? nil : try Self.assignment(from: row)
            try batch.checkAssignment(current)
            try batch.checkLimits(
                sessionBytes: try row.value("session_bytes", as: Int64?.self) ?? 0,
                studentBytes: try row.value("student_bytes", as: Int64.self),
                reportsInAssignment: Int(try row.value("reports", as: Int64.self)))
            var session = batch.storedSession ?? 0
            if batch.storedSession == nil {
                session =
                    try await connection.rows(
                        """
                        INSERT INTO session (session_id, sid, certificate_serial, peer, started_at, assignment)
                        VALUES (\(Data(record.sessionID)), \(sid), \(record.certificateSerial), \(record.peer),
                            \(record.startedAt.timeIntervalSince1970), \(record.assignment.name))
                        RETURNING id
                        """, logger
                    ).first?.value("id", as: Int64.self) ?? 0
            }
            // The session's stored bytes grow in the statement of the last messages.
            var start = batch.messages.startIndex
            while start < batch.messages.endIndex {
                let end = min(start + Self.messagesPerStatement, batch.messages.endIndex)
                try await connection.run(
                    try Self.insertMessages(
                        batch.messages[start..<end], session: session,
                        addingToSession: end == batch.messages.endIndex ? batch.contentBytes : nil),
                    logger)
                start = end
            }
            guard batch.report != nil else { return SessionBatch.Stored(session: session, report: nil) }
            // A number reserved before (its CUHK timestamp names it), or the next of the sequence now.
            var number = batch.reservedNumber ?? 0
            if batch.reservedNumber == nil {
                number =
                    try await connection.rows("SELECT nextval('report_number') AS n", logger).first?.value(
                        "n", as: Int64.self) ?? 0
            }
            guard let summary = try batch.finishedReport(number: number, at: Date(), assignment: current) else {
                return SessionBatch.Stored(session: session, report: nil)
            }
            // The report and its session's status in one statement.
            try await connection.run(
                """
                WITH inserted AS (
                    INSERT INTO report (id, session, sid, certificate_serial, message_count, total_bytes, digest,
                        completed_at, assignment, deadline, late, receipt, file_name, content_type, timestamped_at)
                    VALUES (\(number), \(session), \(summary.studentID.rawValue), \(summary.certificateSerial),
                        \(Int64(summary.messageCount)), \(Int64(summary.totalBytes)), \(Data(summary.digest)),
                        \(summary.completedAt.timeIntervalSince1970), \(summary.assignment),
                        \(summary.deadline?.timeIntervalSince1970), \(summary.isLate), \(Data(summary.receipt)),
                        \(summary.file?.name), \(summary.file?.contentType), \(summary.timestampedAt?.timeIntervalSince1970))
                    RETURNING session
                )
                UPDATE session SET status = 'complete' WHERE id = (SELECT session FROM inserted)
                """, logger)
            return SessionBatch.Stored(session: session, report: summary)
        }
    }

    /// One `INSERT` of several messages; with `addingToSession`, the same statement adds that many bytes to the
    /// session's `stored_bytes`.
    static func insertMessages(_ messages: ArraySlice<StoredMessage>, session: Int64, addingToSession bytes: Int64?)
        throws -> PostgresQuery
    {
        var binds = PostgresBindings(capacity: messages.count * 5)
        var values: [String] = []
        for message in messages {
            let base = binds.count
            values.append("($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5))")
            binds.append(session)
            binds.append(Int64(message.sequence))
            try binds.append(Data(message.content))
            try binds.append(Data(message.mac))
            binds.append(message.receivedAt.timeIntervalSince1970)
        }
        let insert =
            "INSERT INTO message (session, sequence, content, mac, received_at) VALUES "
            + values.joined(separator: ", ")
        guard let bytes else { return PostgresQuery(unsafeSQL: insert, binds: binds) }
        let base = binds.count
        binds.append(bytes)
        binds.append(session)
        return PostgresQuery(
            unsafeSQL: "WITH inserted AS (" + insert + ") "
                + "UPDATE session SET stored_bytes = stored_bytes + $\(base + 1) WHERE id = $\(base + 2)",
            binds: binds)
    }

    public func failSession(_ session: Int64, reason: String) async throws {
        _ = try await database.rows(
            """
            UPDATE session SET status = 'failed', failure = \(reason) WHERE id = \(session) AND status = 'open'
            RETURNING id
            """)
    }

    public func reports(for studentID: StudentID?) async throws -> [ReportSummary] {
        let rows =
            if let studentID {
                try await database.rows(
                    """
                    SELECT report.*, session.session_id FROM report JOIN session ON session.id = report.session
                    WHERE report.sid = \(studentID.rawValue) ORDER BY report.id
                    """)
            } else {
                try await database.rows(
                    """
                    SELECT report.*, session.session_id FROM report JOIN session ON session.id = report.session
                    ORDER BY report.id
                    """)
            }
        return try rows.compactMap(Self.summary(from:))
    }

    public func incompleteAttempts(for studentID: StudentID?) async throws -> [IncompleteAttempt] {
        let select = """
            SELECT session.*, (SELECT count(*) FROM message WHERE message.session = session.id) AS messages
            FROM session WHERE status != 'complete'
              AND EXISTS (SELECT 1 FROM message WHERE message.session = session.id)
            """
        let rows =
            if let studentID {
                try await database.rows(
                    PostgresQuery(
                        unsafeSQL: select + " AND sid = $1 ORDER BY id",
                        binds: {
                            var binds = PostgresBindings(); binds.append(studentID.rawValue); return binds
                        }()))
            } else {
                try await database.rows(PostgresQuery(unsafeSQL: select + " ORDER BY id"))
            }
        return try rows.compactMap { row -> IncompleteAttempt? in
            guard let studentID = StudentID(try row.value("sid", as: String.self)) else { return nil }
            let status = try row.value("status", as: String.self)
            return IncompleteAttempt(
                session: try row.value("id"), studentID: studentID,
                certificateSerial: try row.value("certificate_serial"), assignment: try row.value("assignment"),
                startedAt: try row.date("started_at"), messageCount: Int(try row.value("messages", as: Int64.self)),
                storedBytes: try row.value("stored_bytes"),
                status: status == "failed"
                    ? .failed((try row.value("failure", as: String?.self)) ?? "") : .open)
        }
    }

    public func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? {
        let logger = logger
        return try await database.withConnection { connection in
            guard
                let row = try await connection.rows(
                    """
                    SELECT report.*, session.session_id FROM report JOIN session ON session.id = report.session
                    WHERE report.id = \(id)
                    """, logger
                ).first, let summary = try Self.summary(from: row)
            else { return nil }
            let session = try row.value("session", as: Int64.self)
            let messages = try await connection.rows(
                "SELECT * FROM message WHERE session = \(session) ORDER BY sequence", logger
            ).map(Self.message(from:))
            return (summary, messages)
        }
    }

    public func messages(for studentID: StudentID) async throws -> [[StoredMessage]] {
        let logger = logger
        return try await database.withConnection { connection in
            var sessions: [[StoredMessage]] = []
            for row in try await connection.rows(
                "SELECT id FROM session WHERE sid = \(studentID.rawValue) ORDER BY id", logger)
            {
                let session = try row.value("id", as: Int64.self)
                sessions.append(
                    try await connection.rows(
                        "SELECT * FROM message WHERE session = \(session) ORDER BY sequence", logger
                    ).map(Self.message(from:)))
            }
            return sessions
        }
    }

    static func message(from row: PostgresRandomAccessRow) throws -> StoredMessage {
        StoredMessage(
            sequence: UInt64(try row.value("sequence", as: Int64.self)), content: try row.bytes("content"),
            mac: try row.bytes("mac"), receivedAt: try row.date("received_at"))
    }

    static func summary(from row: PostgresRandomAccessRow) throws -> ReportSummary? {
        guard let studentID = StudentID(try row.value("sid", as: String.self)) else { return nil }
        return ReportSummary(
            id: try row.value("id"), sessionID: try row.bytes("session_id"), studentID: studentID,
            certificateSerial: try row.value("certificate_serial"),
            messageCount: UInt64(try row.value("message_count", as: Int64.self)),
            totalBytes: UInt64(try row.value("total_bytes", as: Int64.self)), digest: try row.bytes("digest"),
            completedAt: try row.date("completed_at"), assignment: try row.value("assignment"),
            deadline: try row.optionalDate("deadline"), isLate: try row.value("late"),
            receipt: try row.bytes("receipt"),
            // Checked when it arrived; read again through the same rules, so nothing else reaches a path or a header.
            file: try row.value("file_name", as: String?.self).flatMap { name in
                try? SubmittedFile(name: name, contentType: (try? row.value("content_type", as: String?.self)) ?? "")
            }, timestampedAt: try row.optionalDate("timestamped_at"))
    }

    // MARK: Report numbers and manifests

    public func reserveReportNumber() async throws -> Int64 {
        // A sequence's number is never given twice, whichever instance asks, and is not given back on rollback.
        try await database.rows("SELECT nextval('report_number') AS n").first?.value("n", as: Int64.self) ?? 0
    }

    public func recordManifest(_ manifest: StoredManifest) async throws -> Bool {
        try await database.rows(
            """
            INSERT INTO manifest (assignment, kind, bundle, timestamped_at, recorded_at)
            VALUES (\(manifest.assignment), \(manifest.kind.rawValue), \(Data(manifest.bundle.bytes)),
                \(manifest.timestampedAt.timeIntervalSince1970), \(manifest.recordedAt.timeIntervalSince1970))
            ON CONFLICT (assignment, kind) DO NOTHING
            RETURNING seq
            """
        ).count > 0
    }

    public func manifests(of assignment: String?) async throws -> [StoredManifest] {
        let rows =
            if let assignment {
                try await database.rows("SELECT * FROM manifest WHERE assignment = \(assignment) ORDER BY seq")
            } else {
                try await database.rows("SELECT * FROM manifest ORDER BY seq")
            }
        return try rows.compactMap { row -> StoredManifest? in
            guard let kind = ManifestDocument.Kind(rawValue: try row.value("kind", as: String.self)) else { return nil }
            return StoredManifest(
                assignment: try row.value("assignment"), kind: kind,
                bundle: try ManifestBundle(parsing: try row.bytes("bundle")),
                timestampedAt: try row.date("timestamped_at"), recordedAt: try row.date("recorded_at"))
        }
    }

    // MARK: Quotas, revocations, roster

    /// The handshake's read in one statement, one round trip: every assignment, each with the student's complete
    /// reports in it, and the bytes the student stored (one consistent snapshot).
    public func sessionContext(for studentID: StudentID, requesting name: String, at now: Date) async throws
        -> (Assignment, StudentUsage)
    {
        let rows = try await database.rows(
            """
            SELECT a.*,
                (SELECT count(*) FROM report r WHERE r.sid = \(studentID.rawValue) AND r.assignment = a.name) AS reports,
                (SELECT coalesce(sum(stored_bytes), 0)::BIGINT FROM session WHERE sid = \(studentID.rawValue))
                    AS stored
            FROM assignment a ORDER BY a.id
            """)
        let assignments = try rows.map(Self.assignment(from:))
        let assignment = try Assignment.resolve(name, among: assignments, now: now)
        guard let row = rows.first(where: { (try? $0.value("name", as: String.self)) == assignment.name }) else {
            throw CampusError(.internalError, "the assignment \(assignment.name) has no row")
        }
        return (
            assignment,
            StudentUsage(
                reportsInAssignment: Int(try row.value("reports", as: Int64.self)),
                storedBytes: try row.value("stored", as: Int64.self))
        )
    }

    public func usage(of studentID: StudentID, in assignment: String) async throws -> StudentUsage {
        let logger = logger
        return try await database.withConnection { connection in
            let reports =
                try await connection.rows(
                    """
                    SELECT count(*) AS n FROM report WHERE sid = \(studentID.rawValue) AND assignment = \(assignment)
                    """, logger
                ).first?.value("n", as: Int64.self) ?? 0
            let bytes =
                try await connection.rows(
                    "SELECT coalesce(sum(stored_bytes), 0)::BIGINT AS n FROM session WHERE sid = \(studentID.rawValue)",
                    logger
                ).first?.value("n", as: Int64.self) ?? 0
            return StudentUsage(reportsInAssignment: Int(reports), storedBytes: bytes)
        }
    }

    public func recordRevocations(_ revocations: [LearnedRevocation]) async throws {
        guard !revocations.isEmpty else { return }
        let logger = logger
        try await database.transaction { connection in
            for revocation in revocations {
                try await connection.run(
                    """
                    INSERT INTO revocation (serial, revoked_at, reason_code, learned_at)
                    VALUES (\(revocation.serial), \(revocation.revokedAt.timeIntervalSince1970),
                        \(revocation.reasonCode.map(Int32.init)), \(revocation.learnedAt.timeIntervalSince1970))
                    ON CONFLICT (serial) DO NOTHING
                    """, logger)
            }
        }
    }

    public func revocations() async throws -> [LearnedRevocation] {
        try await database.rows("SELECT * FROM revocation ORDER BY learned_at, serial").map { row in
            LearnedRevocation(
                serial: try row.value("serial"), revokedAt: try row.date("revoked_at"),
                reasonCode: try row.value("reason_code", as: Int32?.self).map(Int.init),
                learnedAt: try row.date("learned_at"))
        }
    }

    public func roster() async throws -> [RosterEntry] {
        try await database.rows("SELECT sid, name FROM roster ORDER BY sid").compactMap { row in
            try StudentID(try row.value("sid", as: String.self)).map { studentID in
                RosterEntry(studentID: studentID, name: try row.value("name"))
            }
        }
    }

    public func importRoster(_ entries: [RosterEntry]) async throws -> Int {
        let logger = logger
        return try await database.transaction { connection in
            for entry in entries {
                try await connection.run(
                    """
                    INSERT INTO roster (sid, name) VALUES (\(entry.studentID.rawValue), \(entry.name))
                    ON CONFLICT (sid) DO UPDATE SET name = excluded.name
                    """, logger)
            }
            return Int(
                try await connection.rows("SELECT count(*) AS n FROM roster", logger).first?.value(
                    "n", as: Int64.self) ?? 0)
        }
    }

    public func probeWrite() async throws {
        _ = try await database.rows(
            """
            INSERT INTO last_opened (id, opened_at) VALUES (1, \(Date().timeIntervalSince1970))
            ON CONFLICT (id) DO UPDATE SET opened_at = excluded.opened_at
            """)
    }

    // MARK: The web interface's sessions

    public func recordAdminSession(_ session: AdminSessionRecord) async throws {
        try await PostgresAdminSessions.record(session, in: database)
    }

    public func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        try await PostgresAdminSessions.session(key: key, at: time, in: database)
    }

    public func removeAdminSession(key: String) async throws {
        try await PostgresAdminSessions.remove(key: key, in: database)
    }

    public func removeAllAdminSessions() async throws -> Int {
        try await PostgresAdminSessions.removeAll(in: database)
    }
}
