import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusPostgres
import CampusSQLite
import Foundation
import Logging

/// Where a server's records are: SQLite in its directory (the default, `cuhk.db` or `blackboard.db`), or a
/// PostgreSQL database that several instances share.
public enum StorageLocation: Sendable, CustomStringConvertible {
    case sqlite(directory: String)
    /// A PostgreSQL database; `schema` overrides the program's own (`cuhk`, `blackboard`).
    case postgres(DatabaseURL, schema: String? = nil)

    /// SQLite in `directory`, or PostgreSQL at `url` when one is given.
    public init(directory: String, database url: DatabaseURL?) {
        self = url.map { .postgres($0) } ?? .sqlite(directory: directory)
    }

    /// Whether several instances may share it.
    public var isShared: Bool {
        if case .postgres = self { return true }
        return false
    }

    /// The path or URL, never with a password.
    public var description: String {
        switch self {
        case .sqlite(let directory): directory
        case .postgres(let url, let schema): schema.map { "\(url.redacted) (schema \($0))" } ?? url.redacted
        }
    }
}

/// Opens CUHK's and Blackboard's stores from a ``StorageLocation``: the one place that knows every engine.
///
/// Each `with…` opens the store (migrating its schema), runs the body with it, and closes it. For PostgreSQL it first
/// connects once to report an unreachable database at once, then runs the connection pool in a task beside the body
/// (`PostgresClient.run()`), so a server's whole life, graceful shutdown included, happens while its database is
/// served.
public enum StoreOpener {
    /// How stores are opened.
    public struct Options: Sendable {
        /// How long a PostgreSQL operation waits for a connection before the server answers `server-busy`.
        public var operationTimeout: Duration
        /// The most connections one PostgreSQL store opens.
        public var maximumConnections: Int
        /// Whether an SQLite store commits a write at once, so a read-only file stops the program at start (servers
        /// and commands that write).
        public var checkWrites: Bool

        public init(
            operationTimeout: Duration = .seconds(10), maximumConnections: Int = 20, checkWrites: Bool = true
        ) {
            self.operationTimeout = operationTimeout
            self.maximumConnections = maximumConnections
            self.checkWrites = checkWrites
        }
    }

    /// The schema CUHK's tables live in on PostgreSQL.
    public static let authoritySchema = "cuhk"
    /// The schema Blackboard's tables live in on PostgreSQL.
    public static let blackboardSchema = "blackboard"

    /// Runs `body` with CUHK's store at `location`.
    ///
    /// - Throws: ``StorageOpenError`` when the store cannot be opened (a file that cannot be written, a database that
    ///   cannot be reached or refuses the user, a schema newer than this version knows); `body`'s error.
    public static func withAuthorityStore<T>(
        at location: StorageLocation, options: Options = Options(), logger: Logger,
        _ body: (any AuthorityStore) async throws -> T
    ) async throws -> T {
        switch location {
        case .sqlite(let directory):
            let store = try SQLiteAuthorityStore(
                path: SecureFile.join(directory, SQLiteAuthorityStore.fileName), checkWrites: options.checkWrites)
            return try await body(store)
        case .postgres(let url, let schema):
            return try await withPostgres(
                url, schema: schema ?? authoritySchema, program: "cuhk", options: options, logger: logger,
                open: { try await PostgresAuthorityStore.open($0) }, body)
        }
    }

    /// Runs `body` with Blackboard's store at `location`.
    ///
    /// - Throws: ``StorageOpenError`` when the store cannot be opened; `body`'s error.
    public static func withBlackboardStore<T>(
        at location: StorageLocation, options: Options = Options(), logger: Logger,
        _ body: (any BlackboardStore) async throws -> T
    ) async throws -> T {
        switch location {
        case .sqlite(let directory):
            let store = try SQLiteBlackboardStore(
                path: SecureFile.join(directory, SQLiteBlackboardStore.fileName), checkWrites: options.checkWrites)
            return try await body(store)
        case .postgres(let url, let schema):
            return try await withPostgres(
                url, schema: schema ?? blackboardSchema, program: "blackboard", options: options, logger: logger,
                open: { try await PostgresBlackboardStore.open($0) }, body)
        }
    }

    /// CUHK's SQLite file name, `cuhk.db`.
    public static var authorityFileName: String { SQLiteAuthorityStore.fileName }
    /// Blackboard's SQLite file name, `blackboard.db`.
    public static var blackboardFileName: String { SQLiteBlackboardStore.fileName }

    private static func withPostgres<Store, T>(
        _ url: DatabaseURL, schema: String, program: String, options: Options, logger: Logger,
        open: (PostgresDatabase) async throws -> Store, _ body: (Store) async throws -> T
    ) async throws -> T {
        // The pool's own messages at warning and above only: it never logs a password, but its debug lines are
        // noise for an operator.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let durability = try await PostgresDatabase.checkReachable(url, logger: background)
        if let warning = durability.warning {
            logger.warning("\(warning)")
        }
        let database = try PostgresDatabase(
            configuration: .init(
                url: url, schema: schema, operationTimeout: options.operationTimeout,
                maximumConnections: options.maximumConnections, applicationName: "campuspki-\(program)",
                synchronousCommit: durability.synchronousCommit),
            logger: background)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            let store: Store
            do {
                store = try await open(database)
            } catch let error as StorageUnavailable {
                throw StorageOpenError(
                    location: database.location, reason: "it stopped answering while its schema was checked",
                    detail: error.description)
            }
            return try await body(store)
        }
    }
}
