import CampusPKI
import CampusSQLite
import GRDB
import Testing

/// What `DurableDatabase.open` promises about durability (both stores open their files with it).
@Suite struct DurableDatabaseTests {
    /// A commit is synced to the disk before it returns: the writer runs `synchronous = FULL` in WAL mode. GRDB's pool
    /// sets NORMAL when it turns WAL on, which syncs only at checkpoints; this fails if that setting wins again.
    @Test func theWriterSyncsEveryCommit() throws {
        let path = SecureFile.join(try temporaryDirectory(), "durable.db")
        let (database, _) = try DurableDatabase.open(path: path, program: "test") { migrator in
            migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        }
        let level = try database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == 2)
        let mode = try database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }
}
