import CampusPKI
import GRDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opens the SQLite databases CampusPKI keeps its records in.
public enum DurableDatabase {
    /// A database could not be opened, or a server could not write to it.
    public typealias OpenError = StorageOpenError

    /// Opens (or creates) a database in WAL mode with `synchronous = FULL`, so a committed write has reached
    /// the disk, and brings its schema up to date.
    ///
    /// A new database file is created with mode 0600 (it holds every certificate issued or every report), and
    /// SQLite gives its `-wal` and `-shm` files the same mode. A server also commits one small write at once
    /// (`checkWrites`), so a database it cannot write stops it at start instead of failing every upload later.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - checkWrites: Commit a write at once to prove the database is writable.
    ///   - program: The program whose database it is (`cuhk`, `blackboard`), named when the schema is too new.
    ///   - migrations: Registers the schema's migrations, oldest first.
    /// - Returns: The database, and a writer that lets concurrent writes share commits.
    /// - Throws: ``OpenError`` naming the file and the cause, also when a newer version migrated the database.
    public static func open(
        path: String,
        checkWrites: Bool = true,
        program: String,
        migrations: (inout DatabaseMigrator) -> Void
    ) throws -> (DatabasePool, GroupCommitWriter) {
        try createPrivately(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            let database = try DatabasePool(path: path, configuration: configuration)
            try requireFullSynchronous(database)
            var migrator = DatabaseMigrator()
            migrations(&migrator)
            migrator.registerMigration("last-opened") { db in
                try db.execute(
                    sql: "CREATE TABLE last_opened (id INTEGER PRIMARY KEY CHECK (id = 1), opened_at REAL NOT NULL)")
            }
            let unknown = try database.read { db in
                try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
            }
            guard unknown.isEmpty else {
                throw OpenError(
                    location: path, reason: SchemaVersion.newerReason(unknown: unknown, program: program),
                    detail: "unknown migrations: \(unknown)")
            }
            try migrator.migrate(database)
            if checkWrites {
                try database.write { db in
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO last_opened (id, opened_at) VALUES (1, julianday('now'))")
                }
            }
            return (database, GroupCommitWriter(database: database))
        } catch let error as DatabaseError {
            throw OpenError(location: path, reason: explain(error, path: path), detail: "\(error)")
        }
    }

    /// A read-only connection to a database that ``open(path:checkWrites:program:migrations:)`` opened, for reads made
    /// on the calling thread.
    public static func openReader(path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = true
        do {
            return try DatabaseQueue(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw OpenError(location: path, reason: explain(error, path: path), detail: "\(error)")
        }
    }

    /// Sets `synchronous = FULL` on the pool's writer connection, and checks that SQLite took it.
    ///
    /// GRDB's `DatabasePool` turns WAL on after `prepareDatabase` has run, and sets `synchronous = NORMAL` with it: in
    /// WAL mode, NORMAL syncs the WAL only at checkpoints, so a commit survives the program's crash but not the
    /// machine's (a power loss, a kernel panic), and an acknowledgement could name what is no longer there. FULL syncs
    /// the WAL at every commit. Set on the writer after the pool is open, it stays: the pool keeps that one connection.
    ///
    /// - Throws: ``OpenError`` when the writer's level is not FULL afterwards.
    static func requireFullSynchronous(_ database: DatabasePool) throws {
        let level = try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return try Int.fetchOne(db, sql: "PRAGMA synchronous")
        }
        guard level == fullSynchronous else {
            throw OpenError(
                location: database.path, reason: "SQLite did not take synchronous = FULL",
                detail: "PRAGMA synchronous is \(level.map(String.init) ?? "unknown")")
        }
    }

    /// `PRAGMA synchronous`'s value for FULL.
    static let fullSynchronous = 2

    /// Creates the file with mode 0600 if it does not exist, so the database is never readable by others.
    private static func createPrivately(_ path: String) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = fchmod(fd, 0o600)
            close(fd)
            return
        }
        switch errno {
        case EEXIST: return
        case EACCES, EROFS, EPERM:
            throw OpenError(
                location: path,
                reason: "the directory \(SecureFile.parentDirectory(of: path)) is not writable by this user",
                detail: String(cString: strerror(errno)))
        case ENOENT:
            throw OpenError(
                location: path, reason: "the directory \(SecureFile.parentDirectory(of: path)) does not exist",
                detail: String(cString: strerror(errno)))
        default:
            throw OpenError(
                location: path, reason: String(cString: strerror(errno)).lowercased(),
                detail: String(cString: strerror(errno)))
        }
    }

    private static func explain(_ error: DatabaseError, path: String) -> String {
        switch error.resultCode {
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            "it is read-only for this user (check the permissions of the file, its -wal and -shm files and "
                + "the directory \(SecureFile.parentDirectory(of: path)))"
        case .SQLITE_CANTOPEN:
            "it cannot be opened (check that the directory \(SecureFile.parentDirectory(of: path)) exists and is "
                + "writable by this user)"
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            "it is not a CampusPKI database, or it is damaged"
        case .SQLITE_FULL:
            "the disk is full"
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            "another program holds it locked"
        default:
            error.message ?? "SQLite error \(error.resultCode.rawValue)"
        }
    }
}
