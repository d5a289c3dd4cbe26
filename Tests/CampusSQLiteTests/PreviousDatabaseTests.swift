import CampusAdmin
import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusTestSupport
import Foundation
import GRDB
import Testing

/// `cuhk.db` and `blackboard.db` made by earlier versions keep working: their migrations keep their identifiers and
/// the new ones are added, and a database a newer version migrated is refused.
@Suite struct PreviousDatabaseTests {
    /// A copy of a fixture made by the previous version (`campus-demo --dir`, then `cuhk roster import`, `cuhk codes
    /// issue`, `cuhk revoke`, `blackboard assignment add`, `blackboard roster import`, a throttled address, a timestamp
    /// token and a learned revocation), made in a fresh directory from its `sqlite3 .dump` (kept as SQL text, so no
    /// database file is in the repository).
    func fixture(_ name: String) throws -> String {
        let dump = (name as NSString).deletingPathExtension + ".sql"
        let source = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/previous/\(dump)").path
        let sql = try #require(try SecureFile.readText(at: source))
        let path = SecureFile.join(try temporaryDirectory(), name)
        try DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: sql) }
        return path
    }

    @Test func cuhkDBFromThePreviousVersionOpensWithEverythingItHeld() async throws {
        let store = try SQLiteAuthorityStore(path: try fixture("cuhk.db"))
        let certificates = try await store.certificates(for: nil)
        #expect(certificates.count == 1)
        let demo = try #require(certificates.first)
        #expect(demo.studentID.rawValue == "1155123456")
        #expect(demo.authorization == .enrollmentCode)
        #expect(demo.revocation?.reason == .keyCompromise)
        #expect(try await store.revokedSerials().map(\.serial) == [demo.serial])
        #expect(
            try await store.rosterEntries().map(\.studentID.rawValue) == ["1155000001", "1155000002", "1155123456"])
        #expect(try await store.rosterEntries().first?.email == "ada@example.com")
        let codes = try await store.codes()
        #expect(codes.first { $0.studentID == "1155123456" }?.certificateSerial == demo.serial)
        #expect(codes.first { $0.studentID == "1155000001" }?.usedAt == nil)
        #expect(Set(try await store.serviceCertificates().map(\.name)) == ["blackboard", "cuhk", "cuhk-tsa"])
        #expect(try await store.timestampCount() == 1)
        #expect(try await store.timestampAuthorityCertificates().count == 1)
        #expect(try await store.setting(OCSPResponder.urlSetting) != nil)
        let throttled = try await store.throttledAddresses(at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(throttled.map(\.address.description) == ["203.0.113.7"])
        // The tables the new migration added work at once.
        let address = SourceAddress("198.51.100.9")!
        #expect(try await store.recordFailure(from: address, at: Date(), budget: .init(attempts: 1)) == nil)
        #expect(try await store.recordFailure(from: address, at: Date(), budget: .init(attempts: 1)) != nil)
        let session = AdminSessionRecord(key: "k", csrfToken: "c", expires: Date().addingTimeInterval(60))
        try await store.recordAdminSession(session)
        #expect(try await store.adminSession(key: "k", at: Date())?.csrfToken == session.csrfToken)
    }

    @Test func blackboardDBFromThePreviousVersionOpensAndNumbersOnFromItsReports() async throws {
        let store = try SQLiteBlackboardStore(path: try fixture("blackboard.db"))
        let reports = try await store.reports(for: nil)
        #expect(reports.map(\.id) == [1])
        let report = try #require(reports.first)
        #expect(report.messageCount == 10)
        #expect(!report.receipt.isEmpty)
        let (_, messages) = try #require(try await store.report(1))
        #expect(messages.map(\.sequence) == Array(1...10))
        #expect(try await store.assignments().map(\.name) == ["report", "lab1"])
        #expect(try await store.assignments().last?.late == .refuse)
        #expect(try await store.roster().count == 3)
        #expect(try await store.revocations().map(\.serial) == ["7c426d2cab2e2cfffd874039d8ee5590"])
        // The sequence starts after the largest number stored.
        let batch = SessionBatch(
            session: SessionRecord(
                sessionID: Array(repeating: 7, count: 16), studentID: report.studentID, certificateSerial: "ab",
                peer: "test", startedAt: Date()),
            storedSession: nil,
            messages: [StoredMessage(sequence: 1, content: Array("x".utf8), mac: [0], receivedAt: Date())],
            report: ReportSummary(
                sessionID: Array(repeating: 7, count: 16), studentID: report.studentID, certificateSerial: "ab",
                messageCount: 1, totalBytes: 1, digest: Array(repeating: 1, count: 32), completedAt: Date()))
        #expect(try await store.commit(batch).report?.id == 2)
    }

    @Test func aDatabaseMigratedByANewerVersionIsRefusedAndLeftAsItWas() async throws {
        for (name, open) in [
            ("cuhk.db", { (path: String) throws in _ = try SQLiteAuthorityStore(path: path) }),
            ("blackboard.db", { (path: String) throws in _ = try SQLiteBlackboardStore(path: path) }),
        ] {
            let path = try fixture(name)
            try open(path)
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99 from the future')")
            }
            try queue.close()
            let error = try #require(throws: StorageOpenError.self) { try open(path) }
            #expect(error.reason.contains("newer than this version"), "\(error)")
            #expect(error.reason.contains("v99 from the future"), "\(error)")
        }
    }

    /// A `cuhk.db` from before authorizations were recorded: a certificate paid for with a code is recognised (its
    /// code was used at its issuing instant), and so is its renewal; the rest are `unknown`, which does not count.
    @Test func theMigrationRecognisesCodesAndRenewalsAndMarksTheRestUnknown() async throws {
        let path = SecureFile.join(try temporaryDirectory(), "cuhk.db")
        do {
            let queue = try DatabaseQueue(path: path)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE certificate (serial TEXT PRIMARY KEY NOT NULL, sid TEXT NOT NULL,
                            not_before REAL NOT NULL, not_after REAL NOT NULL, pem TEXT NOT NULL,
                            issued_at REAL NOT NULL);
                        """)
            }
            migrator.registerMigration("v2-revocation") { db in
                try db.execute(
                    sql: """
                        ALTER TABLE certificate ADD COLUMN revoked_at REAL;
                        ALTER TABLE certificate ADD COLUMN revocation_reason TEXT;
                        """)
            }
            migrator.registerMigration("v3-roster") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE roster (sid TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, email TEXT);
                        CREATE TABLE enrollment_code (sid TEXT PRIMARY KEY NOT NULL, code_hash BLOB NOT NULL,
                            issued_at REAL NOT NULL, expires_at REAL NOT NULL, used_at REAL);
                        CREATE TABLE lockout (sid TEXT PRIMARY KEY NOT NULL, failures INTEGER NOT NULL,
                            locked_until REAL);
                        CREATE TABLE setting (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                        CREATE TABLE service_certificate (serial TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
                            not_before REAL NOT NULL, not_after REAL NOT NULL, pem TEXT NOT NULL,
                            issued_at REAL NOT NULL);
                        """)
            }
            try migrator.migrate(queue)
            try await queue.write { db in
                let row =
                    "INSERT INTO certificate (serial, sid, not_before, not_after, pem, issued_at, revoked_at, "
                    + "revocation_reason) VALUES (?, ?, 0, 4000000000, '', ?, ?, ?)"
                // 1155000001 took one openly at 100; 1155123456 enrolled with a code at 200 and renewed at 300.
                try db.execute(sql: row, arguments: ["0a", "1155000001", 100.0, nil, nil])
                try db.execute(sql: row, arguments: ["0b", "1155123456", 200.0, 300.0, "superseded"])
                try db.execute(sql: row, arguments: ["0c", "1155123456", 300.0, nil, nil])
                try db.execute(
                    sql: "INSERT INTO enrollment_code VALUES ('1155123456', x'00', 150, 9999, 200)")
            }
        }
        let registry = try SQLiteAuthorityStore(path: path)
        let certificates = Dictionary(
            try await registry.certificates(for: nil).map { ($0.serial, $0) }, uniquingKeysWith: { $1 })
        #expect(certificates["0a"]?.authorization == .unknown)
        #expect(certificates["0a"]?.isRosterAuthorized == false)
        #expect(certificates["0b"]?.authorization == .enrollmentCode)
        #expect(certificates["0c"]?.authorization == .renewal(of: "0b"))
        #expect(certificates["0c"]?.isRosterAuthorized == true)
    }
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-sqlite")
}
