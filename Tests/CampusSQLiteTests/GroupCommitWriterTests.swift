import CampusPKI
import CampusSQLite
import CampusTestSupport
import Dispatch
import GRDB
import Synchronization
import Testing

/// What `GroupCommitWriter` promises: writes queued together share one transaction, each write succeeds or fails on
/// its own, and a write returns only once the transaction holding it has committed.
@Suite struct GroupCommitWriterTests {
    /// Counts the transactions committed on the writer connection.
    final class CommitCounter: TransactionObserver, Sendable {
        let commits = Mutex(0)
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) {}
    }

    static func open() throws -> (String, DatabasePool, GroupCommitWriter) {
        let path = SecureFile.join(try temporaryDirectory(), "group.db")
        let (database, writer) = try DurableDatabase.open(path: path, checkWrites: false, program: "test") { migrator in
            migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE t (x INTEGER PRIMARY KEY)") }
        }
        return (path, database, writer)
    }

    /// A count shared by tasks.
    final class Tally: Sendable {
        private let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
        func add() { count.withLock { $0 += 1 } }
    }

    /// Holds the database's writer queue until `open` is called, so that writes queue up behind it. Opening it more
    /// than once does no harm.
    final class WriterGate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)

        init(_ database: DatabasePool) {
            database.asyncWriteWithoutTransaction { [semaphore] _ in semaphore.wait() }
        }

        func open() { semaphore.signal() }
    }

    /// Twenty writes queued while the writer is busy: each returns what it wrote, every row is there, and they took
    /// fewer transactions than writes.
    @Test func writesQueuedTogetherShareATransaction() async throws {
        let (_, database, writer) = try Self.open()
        let counter = CommitCounter()
        database.add(transactionObserver: counter)
        let gate = WriterGate(database)
        defer { gate.open() }  // a failure before the gate opens must not leave the writer held
        let started = Tally()
        let count = 20
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for value in 0..<count {
                group.addTask {
                    started.add()
                    let written = try await writer.write { db in
                        try db.execute(sql: "INSERT INTO t (x) VALUES (?)", arguments: [value])
                        return value
                    }
                    return (value, written)
                }
            }
            // Every write has been called (a write queues itself before it first suspends); then the writer may go.
            try await waitUntil("every write to be called") { started.value >= count }
            try await Task.sleep(for: .milliseconds(50))
            gate.open()
            for try await (value, written) in group { #expect(written == value) }
        }
        let rows = try await database.read { db in try Int.fetchAll(db, sql: "SELECT x FROM t ORDER BY x") }
        #expect(rows == Array(0..<count))
        let commits = counter.commits.withLock { $0 }
        #expect(commits >= 1 && commits < count)
    }

    /// A write that fails (a duplicate key) fails alone; the writes beside it in its transaction are committed.
    @Test func aFailingWriteFailsAlone() async throws {
        let (_, database, writer) = try Self.open()
        try await writer.write { db in try db.execute(sql: "INSERT INTO t (x) VALUES (1)") }
        let gate = WriterGate(database)
        defer { gate.open() }
        try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for value in [1, 2, 3] {
                group.addTask {
                    do {
                        try await writer.write { db in
                            try db.execute(sql: "INSERT INTO t (x) VALUES (?)", arguments: [value])
                        }
                        return (value, true)
                    } catch let error as DatabaseError {
                        #expect(error.resultCode == .SQLITE_CONSTRAINT)
                        return (value, false)
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            gate.open()
            var outcomes: [Int: Bool] = [:]
            for try await (value, succeeded) in group { outcomes[value] = succeeded }
            #expect(outcomes == [1: false, 2: true, 3: true])
        }
        let rows = try await database.read { db in try Int.fetchAll(db, sql: "SELECT x FROM t ORDER BY x") }
        #expect(rows == [1, 2, 3])
    }

    /// When a write returns, another connection sees it: it was committed first.
    @Test func aWriteReturnsAfterItsCommit() async throws {
        let (path, _, writer) = try Self.open()
        let reader = try DurableDatabase.openReader(path: path)
        for value in 0..<5 {
            try await writer.write { db in try db.execute(sql: "INSERT INTO t (x) VALUES (?)", arguments: [value]) }
            let seen = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }
            #expect(seen == value + 1)
        }
    }
}
