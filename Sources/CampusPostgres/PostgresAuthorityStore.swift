import CampusAdmin
import CampusAuthority
import CampusPKI
import Foundation
import Logging
import PostgresNIO
import X509

/// CUHK's store in PostgreSQL (schema `cuhk` by default), shared by every CUHK instance that names the database.
///
/// Each operation is one transaction in PostgreSQL's default isolation (read committed). The steps instances race on
/// are single statements that test and change a row together (`UPDATE … WHERE used_at IS NULL RETURNING …`): of two
/// transactions on one row, the second waits for the first and then finds the row changed, so a code is consumed once
/// and a certificate superseded once whichever instance asks. A wrong code is counted under an advisory lock on its
/// address. Nothing is cached in the process: every answer is read from the database.
public final class PostgresAuthorityStore: AuthorityStore {
    let database: PostgresDatabase
    var logger: Logger { database.logger }

    public var location: String { database.location }

    init(database: PostgresDatabase) {
        self.database = database
    }

    /// Migrates the schema (under an advisory lock) and returns the store.
    ///
    /// - Throws: ``StorageOpenError`` when the schema is newer than this version knows; ``StorageUnavailable``.
    public static func open(_ database: PostgresDatabase) async throws -> PostgresAuthorityStore {
        try await database.migrate(migrations, program: "cuhk")
        return PostgresAuthorityStore(database: database)
    }

    /// The schema's migrations, oldest first. Times are seconds since 1970 (`DOUBLE PRECISION`), as in `cuhk.db`.
    static let migrations = [
        PostgresMigration(
            "cuhk initial",
            [
                """
                CREATE TABLE certificate (
                    serial TEXT PRIMARY KEY,
                    sid TEXT NOT NULL,
                    not_before DOUBLE PRECISION NOT NULL,
                    not_after DOUBLE PRECISION NOT NULL,
                    pem TEXT NOT NULL,
                    issued_at DOUBLE PRECISION NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    revocation_reason TEXT,
                    authorized_by TEXT NOT NULL DEFAULT 'unknown',
                    roster_authorized BOOLEAN NOT NULL DEFAULT FALSE
                )
                """,
                "CREATE INDEX certificate_sid ON certificate (sid)",
                "CREATE INDEX certificate_authorized_by ON certificate (authorized_by)",
                "CREATE INDEX certificate_revoked_at ON certificate (revoked_at) WHERE revoked_at IS NOT NULL",
                "CREATE TABLE roster (sid TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT)",
                """
                CREATE TABLE enrollment_code (
                    sid TEXT PRIMARY KEY REFERENCES roster (sid) ON DELETE CASCADE,
                    code_hash BYTEA NOT NULL,
                    issued_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    used_at DOUBLE PRECISION,
                    certificate_serial TEXT
                )
                """,
                "CREATE TABLE setting (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE service_certificate (
                    serial TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    not_before DOUBLE PRECISION NOT NULL,
                    not_after DOUBLE PRECISION NOT NULL,
                    pem TEXT NOT NULL,
                    issued_at DOUBLE PRECISION NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    revocation_reason TEXT
                )
                """,
                """
                CREATE TABLE timestamp_token (
                    serial TEXT PRIMARY KEY,
                    gen_time DOUBLE PRECISION NOT NULL,
                    hash_algorithm TEXT NOT NULL,
                    imprint BYTEA NOT NULL,
                    authority_serial TEXT NOT NULL
                )
                """,
                "CREATE INDEX timestamp_token_gen_time ON timestamp_token (gen_time)",
                """
                CREATE TABLE throttle (
                    address TEXT PRIMARY KEY,
                    since DOUBLE PRECISION NOT NULL,
                    until DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE throttle_allowance (
                    address TEXT PRIMARY KEY,
                    tokens DOUBLE PRECISION NOT NULL,
                    updated DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE INDEX throttle_allowance_updated ON throttle_allowance (updated)",
                """
                CREATE TABLE admin_session (
                    session_key TEXT PRIMARY KEY,
                    csrf_token TEXT NOT NULL,
                    expires DOUBLE PRECISION NOT NULL
                )
                """,
            ])
    ]

    // MARK: Certificates

    public func record(_ certificate: IssuedCertificate) async throws {
        let logger = logger
        try await uniqueSerial(certificate.serial) {
            try await self.database.transaction { connection in try await Self.insert(certificate, connection, logger) }
        }
    }

    public func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws {
        let logger = logger
        try await uniqueSerial(certificate.serial) {
            try await self.database.transaction { connection in
                let superseded = try await connection.run(
                    """
                    UPDATE certificate SET revoked_at = \(time.timeIntervalSince1970),
                        revocation_reason = \(RevocationReason.superseded.rawValue)
                    WHERE serial = \(serial.lowercased()) AND revoked_at IS NULL RETURNING serial
                    """, logger)
                guard superseded == 1 else { throw RegistryError.alreadyRevoked(serial) }
                try await Self.insert(certificate, connection, logger)
            }
        }
    }

    /// Runs `write`, turning a unique violation on the serial into ``RegistryError/duplicateSerial(_:)``.
    func uniqueSerial(_ serial: String, _ write: () async throws -> Void) async throws {
        do {
            try await write()
        } catch let error as PSQLError where error.isUniqueViolation {
            throw RegistryError.duplicateSerial(serial)
        }
    }

    static func insert(_ certificate: IssuedCertificate, _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        let rosterAuthorized: Bool
        switch certificate.authorization {
        case .enrollmentCode:
            rosterAuthorized = true
        case .renewal(let serial):
            rosterAuthorized =
                try await connection.rows(
                    "SELECT roster_authorized FROM certificate WHERE serial = \(serial)", logger
                ).first?.value("roster_authorized", as: Bool.self) ?? false
        case .openEnrollment, .unknown:
            rosterAuthorized = false
        }
        try await connection.run(
            """
            INSERT INTO certificate
                (serial, sid, not_before, not_after, pem, issued_at, authorized_by, roster_authorized)
            VALUES (\(certificate.serial), \(certificate.studentID.rawValue),
                \(certificate.notValidBefore.timeIntervalSince1970), \(certificate.notValidAfter.timeIntervalSince1970),
                \(certificate.pem), \(certificate.issuedAt.timeIntervalSince1970), \(certificate.authorization.stored),
                \(rosterAuthorized))
            """, logger)
    }

    public func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] {
        let rows =
            if let studentID {
                try await database.rows(
                    "SELECT * FROM certificate WHERE sid = \(studentID.rawValue) ORDER BY issued_at, serial")
            } else {
                try await database.rows("SELECT * FROM certificate ORDER BY issued_at, serial")
            }
        return try rows.compactMap(Self.certificate(from:))
    }

    public func status(ofSerial serial: String) async throws -> CertificateStatus {
        guard
            let found = try await database.rows("SELECT * FROM certificate WHERE serial = \(serial.lowercased())")
                .first.flatMap(Self.certificate(from:))
        else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate {
        let logger = logger
        return try await database.transaction { connection in
            let revoked = try await connection.rows(
                """
                UPDATE certificate SET revoked_at = \(time.timeIntervalSince1970), revocation_reason = \(reason.rawValue)
                WHERE serial = \(serial.lowercased()) AND revoked_at IS NULL RETURNING *
                """, logger)
            if let row = revoked.first, let certificate = try Self.certificate(from: row) { return certificate }
            let known = try await connection.run(
                "SELECT 1 FROM certificate WHERE serial = \(serial.lowercased())", logger)
            throw known == 0 ? RegistryError.unknownSerial(serial) : RegistryError.alreadyRevoked(serial)
        }
    }

    public func renewal(of serial: String) async throws -> IssuedCertificate? {
        try await database.rows(
            """
            SELECT * FROM certificate WHERE authorized_by = \(CertificateAuthorization.renewal(of: serial.lowercased()).stored)
            ORDER BY issued_at DESC LIMIT 1
            """
        ).first.flatMap(Self.certificate(from:))
    }

    public func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
        -> [IssuedCertificate]
    {
        try await database.rows(
            """
            UPDATE certificate SET revoked_at = \(time.timeIntervalSince1970), revocation_reason = \(reason.rawValue)
            WHERE sid = \(studentID.rawValue) AND revoked_at IS NULL RETURNING *
            """
        ).compactMap(Self.certificate(from:)).sorted(by: Self.issuingOrder)
    }

    public func revokedSerials() async throws -> [RevokedSerial] {
        try await database.rows(
            """
            SELECT serial, revoked_at, revocation_reason FROM certificate WHERE revoked_at IS NOT NULL
            ORDER BY revoked_at, serial
            """
        ).map { row in
            RevokedSerial(serial: try row.value("serial"), revocation: try Self.revocation(from: row)!)
        }
    }

    public func certificatesNotFromRoster(onRosterAt time: Date) async throws -> [IssuedCertificate] {
        try await database.rows(
            """
            SELECT certificate.* FROM certificate JOIN roster ON roster.sid = certificate.sid
            WHERE NOT certificate.roster_authorized AND certificate.revoked_at IS NULL
                AND certificate.not_after > \(time.timeIntervalSince1970)
            ORDER BY certificate.sid, certificate.issued_at, certificate.serial
            """
        ).compactMap(Self.certificate(from:))
    }

    public func revokeAllNotFromRoster(reason: RevocationReason, at time: Date) async throws -> [IssuedCertificate] {
        try await database.rows(
            """
            UPDATE certificate SET revoked_at = \(time.timeIntervalSince1970), revocation_reason = \(reason.rawValue)
            WHERE NOT roster_authorized AND revoked_at IS NULL RETURNING *
            """
        ).compactMap(Self.certificate(from:)).sorted {
            ($0.studentID.rawValue, $0.issuedAt, $0.serial) < ($1.studentID.rawValue, $1.issuedAt, $1.serial)
        }
    }

    static func issuingOrder(_ a: IssuedCertificate, _ b: IssuedCertificate) -> Bool {
        (a.issuedAt, a.serial) < (b.issuedAt, b.serial)
    }

    static func revocation(from row: PostgresRandomAccessRow) throws -> Revocation? {
        try row.optionalDate("revoked_at").map { time in
            Revocation(
                time: time,
                reason: RevocationReason(rawValue: try row.value("revocation_reason", as: String?.self) ?? "")
                    ?? .cessationOfOperation)
        }
    }

    static func certificate(from row: PostgresRandomAccessRow) throws -> IssuedCertificate? {
        guard let studentID = StudentID(try row.value("sid", as: String.self)) else { return nil }
        return IssuedCertificate(
            serial: try row.value("serial"), studentID: studentID, notValidBefore: try row.date("not_before"),
            notValidAfter: try row.date("not_after"), pem: try row.value("pem"), issuedAt: try row.date("issued_at"),
            revocation: try revocation(from: row),
            authorization: CertificateAuthorization(stored: try row.value("authorized_by")),
            isRosterAuthorized: try row.value("roster_authorized"))
    }

    // MARK: Roster and codes

    public func importRoster(_ entries: [RosterEntry]) async throws -> (added: Int, updated: Int) {
        let logger = logger
        return try await database.transaction { connection in
            var added = 0
            for entry in entries {
                // xmax is 0 on a row this statement inserted, and set on one it updated.
                let row = try await connection.rows(
                    """
                    INSERT INTO roster (sid, name, email) VALUES (\(entry.studentID.rawValue), \(entry.name), \(entry.email))
                    ON CONFLICT (sid) DO UPDATE SET name = excluded.name, email = excluded.email
                    RETURNING (xmax = 0) AS added
                    """, logger)
                if try row.first?.value("added", as: Bool.self) == true { added += 1 }
            }
            return (added, entries.count - added)
        }
    }

    public func rosterEntries() async throws -> [RosterEntry] {
        try await database.rows("SELECT * FROM roster ORDER BY sid").compactMap { row in
            try StudentID(try row.value("sid", as: String.self)).map { studentID in
                RosterEntry(studentID: studentID, name: try row.value("name"), email: try row.value("email"))
            }
        }
    }

    public func removeFromRoster(_ studentID: StudentID) async throws -> Bool {
        let logger = logger
        return try await database.transaction { connection in
            try await connection.run("DELETE FROM enrollment_code WHERE sid = \(studentID.rawValue)", logger)
            return try await connection.run(
                "DELETE FROM roster WHERE sid = \(studentID.rawValue) RETURNING sid", logger) > 0
        }
    }

    public func storeCode(_ code: EnrollmentCode, for studentID: StudentID, issuedAt: Date, expiresAt: Date)
        async throws -> Bool
    {
        try await database.rows(
            """
            INSERT INTO enrollment_code (sid, code_hash, issued_at, expires_at, used_at, certificate_serial)
            SELECT sid, \(Data(code.hash)), \(issuedAt.timeIntervalSince1970), \(expiresAt.timeIntervalSince1970),
                NULL, NULL
            FROM roster WHERE sid = \(studentID.rawValue)
            ON CONFLICT (sid) DO UPDATE SET code_hash = excluded.code_hash, issued_at = excluded.issued_at,
                expires_at = excluded.expires_at, used_at = NULL, certificate_serial = NULL
            RETURNING sid
            """
        ).count == 1
    }

    public func codes() async throws -> [CodeRecord] {
        try await database.rows("SELECT * FROM enrollment_code ORDER BY sid").map(Self.codeRecord(from:))
    }

    public func code(for studentID: StudentID) async throws -> CodeRecord? {
        try await database.rows(
            """
            SELECT enrollment_code.* FROM enrollment_code JOIN roster ON roster.sid = enrollment_code.sid
            WHERE enrollment_code.sid = \(studentID.rawValue)
            """
        ).first.map(Self.codeRecord(from:))
    }

    static func codeRecord(from row: PostgresRandomAccessRow) throws -> CodeRecord {
        CodeRecord(
            studentID: try row.value("sid"), issuedAt: try row.date("issued_at"), expiresAt: try row.date("expires_at"),
            usedAt: try row.optionalDate("used_at"), hash: try row.bytes("code_hash"),
            certificateSerial: try row.value("certificate_serial"))
    }

    public func record(_ certificate: IssuedCertificate, consumingCode codeHash: [UInt8], at time: Date) async throws {
        let logger = logger
        try await uniqueSerial(certificate.serial) {
            try await self.database.transaction { connection in
                // The code's row is locked by the first request to reach it; a second waits, then finds it used.
                let consumed = try await connection.run(
                    """
                    UPDATE enrollment_code SET used_at = \(time.timeIntervalSince1970),
                        certificate_serial = \(certificate.serial)
                    WHERE sid = \(certificate.studentID.rawValue) AND code_hash = \(Data(codeHash)) AND used_at IS NULL
                        AND expires_at > \(time.timeIntervalSince1970)
                    RETURNING sid
                    """, logger)
                guard consumed == 1 else { throw RegistryError.codeAlreadyUsed }
                try await connection.run(
                    """
                    UPDATE certificate SET revoked_at = \(time.timeIntervalSince1970),
                        revocation_reason = \(RevocationReason.superseded.rawValue)
                    WHERE sid = \(certificate.studentID.rawValue) AND revoked_at IS NULL RETURNING serial
                    """, logger)
                try await Self.insert(certificate, connection, logger)
            }
        }
    }

    // MARK: Throttle

    public func recordFailure(from address: SourceAddress, at time: Date, budget: EnrollmentThrottle.Configuration)
        async throws -> Date?
    {
        let logger = logger
        let key = address.description
        let now = time.timeIntervalSince1970
        return try await database.transaction { connection in
            // One address's attempts are counted one at a time, whichever instance they reach.
            try await connection.run("SELECT pg_advisory_xact_lock(hashtext(\("campuspki-throttle:" + key)))", logger)
            if let until = try await connection.rows(
                "SELECT until FROM throttle WHERE address = \(key) AND until > \(now)", logger
            ).first {
                return try until.date("until")
            }
            let stored = try await connection.rows(
                "SELECT tokens, updated FROM throttle_allowance WHERE address = \(key)", logger
            ).first.map { row in
                EnrollmentThrottle.Allowance(tokens: try row.value("tokens"), updated: try row.date("updated"))
            }
            switch EnrollmentThrottle.spend(stored, of: address, at: time, configuration: budget) {
            case .allowed(let allowance):
                try await connection.run(
                    """
                    INSERT INTO throttle_allowance (address, tokens, updated)
                    VALUES (\(key), \(allowance.tokens), \(allowance.updated.timeIntervalSince1970))
                    ON CONFLICT (address) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated
                    """, logger)
                try await Self.forgetAllowances(connection, logger, at: time, budget: budget)
                return nil
            case .throttled(let entry):
                try await connection.run("DELETE FROM throttle_allowance WHERE address = \(key)", logger)
                try await Self.putOnList(entry, connection, logger, at: time, keepingAtMost: budget.maximumRecorded)
                return entry.until
            }
        }
    }

    /// Forgets the allowances that are full again, then the longest quiet beyond the budget's limit. Rows another
    /// transaction holds are skipped (the next attempt forgets them), so two instances never wait on each other here.
    static func forgetAllowances(
        _ connection: PostgresConnection, _ logger: Logger, at time: Date, budget: EnrollmentThrottle.Configuration
    ) async throws {
        let fullAgain = EnrollmentThrottle.fullAgainBefore(time, configuration: budget).timeIntervalSince1970
        try await connection.run(
            """
            DELETE FROM throttle_allowance WHERE address IN (
                SELECT address FROM throttle_allowance WHERE updated < \(fullAgain) FOR UPDATE SKIP LOCKED)
            """, logger)
        let count =
            try await connection.rows("SELECT count(*) AS n FROM throttle_allowance", logger)
            .first?.value("n", as: Int64.self) ?? 0
        guard count > budget.maximumTracked else { return }
        try await connection.run(
            """
            DELETE FROM throttle_allowance WHERE address IN (
                SELECT address FROM throttle_allowance ORDER BY updated, address
                LIMIT \(Int(count) - max(budget.maximumTracked, 1)) FOR UPDATE SKIP LOCKED)
            """, logger)
    }

    static func putOnList(
        _ entry: ThrottledAddress, _ connection: PostgresConnection, _ logger: Logger, at time: Date, keepingAtMost: Int
    ) async throws {
        try await connection.run("DELETE FROM throttle WHERE until <= \(time.timeIntervalSince1970)", logger)
        try await connection.run(
            """
            INSERT INTO throttle (address, since, until)
            VALUES (\(entry.address.description), \(entry.since.timeIntervalSince1970), \(entry.until.timeIntervalSince1970))
            ON CONFLICT (address) DO UPDATE SET since = excluded.since, until = excluded.until
            """, logger)
        try await connection.run(
            """
            DELETE FROM throttle WHERE address IN (
                SELECT address FROM throttle ORDER BY since DESC, address OFFSET \(max(keepingAtMost, 1))
                FOR UPDATE SKIP LOCKED)
            """, logger)
    }

    public func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date? {
        try await database.rows(
            "SELECT until FROM throttle WHERE address = \(address.description) AND until > \(time.timeIntervalSince1970)"
        ).first?.date("until")
    }

    public func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws {
        let logger = logger
        try await database.transaction { connection in
            try await Self.putOnList(entry, connection, logger, at: time, keepingAtMost: keepingAtMost)
        }
    }

    public func throttledAddresses(at time: Date) async throws -> [ThrottledAddress] {
        try await database.rows(
            "SELECT * FROM throttle WHERE until > \(time.timeIntervalSince1970) ORDER BY since, address"
        ).compactMap { row in
            try SourceAddress(try row.value("address", as: String.self)).map { address in
                ThrottledAddress(address: address, since: try row.date("since"), until: try row.date("until"))
            }
        }
    }

    public func clearThrottle(_ address: SourceAddress?) async throws -> Int {
        let logger = logger
        return try await database.transaction { connection in
            if let address {
                try await connection.run(
                    "DELETE FROM throttle_allowance WHERE address = \(address.description)", logger)
                return try await connection.run(
                    "DELETE FROM throttle WHERE address = \(address.description) RETURNING address", logger)
            }
            try await connection.run("DELETE FROM throttle_allowance", logger)
            return try await connection.run("DELETE FROM throttle RETURNING address", logger)
        }
    }

    // MARK: Services, timestamps, settings

    public func recordServiceCertificate(
        name: String, serial: String, notValidBefore: Date, notValidAfter: Date, pem: String, issuedAt: Date
    ) async throws {
        try await uniqueSerial(serial) {
            _ = try await self.database.rows(
                """
                INSERT INTO service_certificate (serial, name, not_before, not_after, pem, issued_at)
                VALUES (\(serial), \(name), \(notValidBefore.timeIntervalSince1970),
                    \(notValidAfter.timeIntervalSince1970), \(pem), \(issuedAt.timeIntervalSince1970))
                """)
        }
    }

    public func serviceCertificates() async throws -> [ServiceCertificateRecord] {
        try await database.rows("SELECT * FROM service_certificate ORDER BY issued_at, serial")
            .map(Self.serviceCertificate(from:))
    }

    static func serviceCertificate(from row: PostgresRandomAccessRow) throws -> ServiceCertificateRecord {
        ServiceCertificateRecord(
            name: try row.value("name"), serial: try row.value("serial"), notValidBefore: try row.date("not_before"),
            notValidAfter: try row.date("not_after"), issuedAt: try row.date("issued_at"),
            revocation: try revocation(from: row))
    }

    public func serviceCertificateStatus(ofSerial serial: String) async throws -> ServiceCertificateStatus {
        guard
            let found = try await database.rows(
                "SELECT * FROM service_certificate WHERE serial = \(serial.lowercased())"
            ).first.map(Self.serviceCertificate(from:))
        else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revokeServiceCertificates(serial: String?, name: String?, reason: RevocationReason, at time: Date)
        async throws -> [ServiceCertificateRecord]
    {
        let logger = logger
        return try await database.transaction { connection in
            if let serial {
                let rows = try await connection.rows(
                    """
                    UPDATE service_certificate SET revoked_at = \(time.timeIntervalSince1970),
                        revocation_reason = \(reason.rawValue)
                    WHERE serial = \(serial.lowercased()) AND revoked_at IS NULL RETURNING *
                    """, logger)
                guard rows.isEmpty else { return try rows.map(Self.serviceCertificate(from:)) }
                let known = try await connection.run(
                    "SELECT 1 FROM service_certificate WHERE serial = \(serial.lowercased())", logger)
                throw known == 0 ? RegistryError.unknownSerial(serial) : RegistryError.alreadyRevoked(serial)
            }
            return try await connection.rows(
                """
                UPDATE service_certificate SET revoked_at = \(time.timeIntervalSince1970),
                    revocation_reason = \(reason.rawValue)
                WHERE name = \(name ?? "") AND revoked_at IS NULL RETURNING *
                """, logger
            ).map(Self.serviceCertificate(from:)).sorted { $0.issuedAt < $1.issuedAt }
        }
    }

    public func recordTimestamp(_ record: TimestampRecord) async throws {
        try await uniqueSerial(record.serial) {
            _ = try await self.database.rows(
                """
                INSERT INTO timestamp_token (serial, gen_time, hash_algorithm, imprint, authority_serial)
                VALUES (\(record.serial), \(record.generationTime.timeIntervalSince1970), \(record.hashAlgorithm.rawValue),
                    \(Data(record.imprint)), \(record.authoritySerial))
                """)
        }
    }

    public func timestampRecords(limit: Int) async throws -> [TimestampRecord] {
        try await database.rows("SELECT * FROM timestamp_token ORDER BY gen_time, serial LIMIT \(max(limit, 0))")
            .compactMap { row in
                guard let algorithm = TimestampHashAlgorithm(rawValue: try row.value("hash_algorithm")) else {
                    return nil
                }
                return TimestampRecord(
                    serial: try row.value("serial"), generationTime: try row.date("gen_time"), hashAlgorithm: algorithm,
                    imprint: try row.bytes("imprint"), authoritySerial: try row.value("authority_serial"))
            }
    }

    public func timestampCount() async throws -> Int {
        Int(try await database.rows("SELECT count(*) AS n FROM timestamp_token").first?.value("n", as: Int64.self) ?? 0)
    }

    public func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) async throws {
        try await recordServiceCertificate(
            name: TimestampAuthorityCertificate.serviceName, serial: certificate.serialNumber.hex,
            notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
            pem: try certificate.serializeAsPEM().text, issuedAt: issuedAt)
    }

    public func timestampAuthorityCertificates() async throws -> [Certificate] {
        try await database.rows(
            """
            SELECT pem FROM service_certificate WHERE name = \(TimestampAuthorityCertificate.serviceName)
            ORDER BY issued_at DESC, serial
            """
        ).compactMap { try? Certificate(pemEncoded: try $0.value("pem", as: String.self)) }
    }

    public func setting(_ name: String) async throws -> String? {
        try await database.rows("SELECT value FROM setting WHERE name = \(name)").first?.value("value")
    }

    public func recordSetting(_ name: String, _ value: String) async throws {
        _ = try await database.rows(
            """
            INSERT INTO setting (name, value) VALUES (\(name), \(value))
            ON CONFLICT (name) DO UPDATE SET value = excluded.value
            """)
    }

    public func probeWrite(at time: Date) async throws {
        try await recordSetting("readiness-probe", "\(time.timeIntervalSince1970)")
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

/// The web interface's sessions in an `admin_session` table, CUHK's and Blackboard's alike, by their keys (never
/// the session IDs themselves).
enum PostgresAdminSessions {
    static func record(_ session: AdminSessionRecord, in database: PostgresDatabase) async throws {
        let logger = database.logger
        try await database.transaction { connection in
            try await connection.run(
                "DELETE FROM admin_session WHERE expires <= \(Date().timeIntervalSince1970)", logger)
            try await connection.run(
                """
                INSERT INTO admin_session (session_key, csrf_token, expires)
                VALUES (\(session.key), \(session.csrfToken),
                    \(session.expires.timeIntervalSince1970))
                ON CONFLICT (session_key) DO UPDATE SET csrf_token = excluded.csrf_token, expires = excluded.expires
                """, logger)
        }
    }

    static func session(key: String, at time: Date, in database: PostgresDatabase) async throws
        -> AdminSessionRecord?
    {
        try await database.rows(
            """
            SELECT csrf_token, expires FROM admin_session
            WHERE session_key = \(key) AND expires > \(time.timeIntervalSince1970)
            """
        ).first.map { row in
            AdminSessionRecord(key: key, csrfToken: try row.value("csrf_token"), expires: try row.date("expires"))
        }
    }

    static func remove(key: String, in database: PostgresDatabase) async throws {
        _ = try await database.rows("DELETE FROM admin_session WHERE session_key = \(key) RETURNING session_key")
    }

    static func removeAll(in database: PostgresDatabase) async throws -> Int {
        try await database.rows(
            "DELETE FROM admin_session RETURNING expires"
        ).filter { (try? $0.date("expires")).map { $0 > Date() } ?? false }.count
    }
}
