import CampusPKI
import Foundation
import Logging
import PostgresNIO

/// A schema's migrations on PostgreSQL: numbered from 1 in the order given, recorded in the schema's
/// `schema_migration` table, each applied once.
public struct PostgresMigration: Sendable {
    /// What it does, recorded with its number.
    public var name: String
    /// Its statements, run in order in the migrating transaction (PostgreSQL's DDL is transactional).
    public var statements: [String]

    public init(_ name: String, _ statements: [String]) {
        self.name = name
        self.statements = statements
    }
}

extension PostgresDatabase {
    /// Brings the schema up to date, under an advisory lock, in one transaction: of several instances starting
    /// together, one migrates and the others wait for it, then find nothing to do. A schema migrated by a newer
    /// version (it has migrations this one does not know) is refused, and nothing is changed.
    ///
    /// - Parameter program: `cuhk` or `blackboard`, named when the schema is too new.
    /// - Throws: ``StorageOpenError`` when the schema is newer; ``StorageUnavailable``; PostgreSQL's error.
    public func migrate(_ migrations: [PostgresMigration], program: String) async throws {
        let schema = configuration.schema
        let location = location
        let logger = logger
        try await transaction { connection in
            // The same lock for every instance migrating this schema, released when the transaction ends.
            try await connection.run(
                "SELECT pg_advisory_xact_lock(hashtext(\("campuspki-migrations:" + schema)))", logger)
            try await connection.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger)
            try await connection.run(
                """
                CREATE TABLE IF NOT EXISTS schema_migration (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at DOUBLE PRECISION NOT NULL
                )
                """, logger)
            let applied = try await connection.rows(
                "SELECT version, name FROM schema_migration ORDER BY version", logger
            )
            .map { (try $0.value("version", as: Int.self), try $0.value("name", as: String.self)) }
            let unknown = applied.filter { $0.0 > migrations.count }.map { "\($0.0) \($0.1)" }
            guard unknown.isEmpty else {
                throw StorageOpenError(
                    location: location, reason: SchemaVersion.newerReason(unknown: unknown, program: program),
                    detail:
                        "schema_migration has versions up to \(applied.last?.0 ?? 0); this version knows \(migrations.count)"
                )
            }
            let done = Set(applied.map(\.0))
            for (index, migration) in migrations.enumerated() where !done.contains(index + 1) {
                for statement in migration.statements {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger)
                }
                try await connection.run(
                    """
                    INSERT INTO schema_migration (version, name, applied_at)
                    VALUES (\(index + 1), \(migration.name), \(Date().timeIntervalSince1970))
                    """, logger)
                logger.notice("database migrated", metadata: ["schema": "\(schema)", "migration": "\(migration.name)"])
            }
        }
    }
}
