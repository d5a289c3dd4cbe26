import GRDB

/// Opens the SQLite databases CampusPKI keeps its records in.
public enum DurableDatabase {
    /// Opens (or creates) a database in WAL mode with `synchronous = FULL`, so a committed write has reached
    /// the disk, and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - migrations: Registers the schema's migrations, oldest first.
    /// - Returns: The database, and a writer that lets concurrent writes share commits.
    public static func open(
        path: String,
        migrations: (inout DatabaseMigrator) -> Void
    ) throws -> (DatabasePool, GroupCommitWriter) {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        let database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrations(&migrator)
        try migrator.migrate(database)
        return (database, GroupCommitWriter(database: database))
    }
}
