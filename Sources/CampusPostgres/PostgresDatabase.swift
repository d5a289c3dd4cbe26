import CampusPKI
import Foundation
import Logging
import NIOCore
import PostgresNIO
import _ConnectionPoolModule

/// One schema of a PostgreSQL database, reached through postgres-nio's `PostgresClient` (a pool of connections),
/// for the stores of this target.
///
/// The client's connections set `search_path` to the schema at their start, so every query names its tables plainly
/// and CUHK's tables (`cuhk`) and Blackboard's (`blackboard`) can share one database. ``run()`` must run while the
/// database is used (a `PostgresClient` serves nothing otherwise); ``CampusStorage``'s opener runs it in a task beside
/// the server. Each operation waits at most ``Configuration/operationTimeout`` for a connection: while the server is
/// away, operations fail with ``StorageUnavailable`` (servers answer `server-busy`), and the pool connects again by
/// itself when it returns.
public final class PostgresDatabase: Sendable {
    public struct Configuration: Sendable {
        public var url: DatabaseURL
        /// The schema (created when missing): `cuhk` or `blackboard`; tests use one of their own each.
        public var schema: String
        /// How long one operation may wait for a connection before it fails as unavailable.
        public var operationTimeout: Duration
        /// How long one connection attempt may take.
        public var connectTimeout: Duration
        /// The most connections the pool opens.
        public var maximumConnections: Int
        /// `application_name`, as `pg_stat_activity` shows it.
        public var applicationName: String
        /// `synchronous_commit` for every connection of the pool, or `nil` for the server's own: see
        /// ``Durability/synchronousCommit``.
        public var synchronousCommit: String?

        public init(
            url: DatabaseURL, schema: String, operationTimeout: Duration = .seconds(10),
            connectTimeout: Duration = .seconds(5), maximumConnections: Int = 20, applicationName: String = "campuspki",
            synchronousCommit: String? = nil
        ) {
            self.url = url
            self.schema = schema
            self.operationTimeout = operationTimeout
            self.connectTimeout = connectTimeout
            self.maximumConnections = maximumConnections
            self.applicationName = applicationName
            self.synchronousCommit = synchronousCommit
        }
    }

    public let configuration: Configuration
    /// The database's URL without its password, with the schema: for messages and the log.
    public let location: String
    let client: PostgresClient
    let logger: Logger

    /// Prepares the client; nothing connects until ``run()`` runs and an operation asks.
    ///
    /// - Throws: ``StorageOpenError`` when the schema's name is not a plain identifier.
    public init(configuration: Configuration, logger: Logger) throws {
        guard Self.isPlainIdentifier(configuration.schema) else {
            throw StorageOpenError(
                location: configuration.url.redacted,
                reason: "the schema name \(configuration.schema) is not a plain identifier (a-z, 0-9, _)")
        }
        self.configuration = configuration
        self.location = "\(configuration.url.redacted) (schema \(configuration.schema))"
        self.logger = logger
        let url = configuration.url
        var client = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: Self.tls(url.tls))
        client.options.connectTimeout = configuration.connectTimeout
        client.options.maximumConnections = configuration.maximumConnections
        client.options.additionalStartupParameters = [
            ("search_path", configuration.schema), ("application_name", configuration.applicationName),
        ]
        if let synchronousCommit = configuration.synchronousCommit {
            client.options.additionalStartupParameters.append(("synchronous_commit", synchronousCommit))
        }
        self.client = PostgresClient(configuration: client, backgroundLogger: logger)
    }

    /// Serves the client's connections until the task is cancelled.
    public func run() async {
        await client.run()
    }

    /// Removes the schema and everything in it: what a test that made its own schema does when it ends.
    public func dropSchema() async throws {
        _ = try await rows(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(configuration.schema) CASCADE"))
    }

    /// Runs one statement of SQL text as it is (tests and maintenance; the stores bind their values).
    ///
    /// - Returns: How many rows it returned.
    @discardableResult
    func execute(unsafeSQL sql: String) async throws -> Int {
        try await rows(PostgresQuery(unsafeSQL: sql)).count
    }

    static func tls(_ mode: DatabaseURL.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    /// `cuhk`, `blackboard`, `t_1a2b_cuhk`: lower-case letters, digits and `_`, starting with a letter or `_`.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 63 else { return false }
        return (first == "_" || ("a"..."z").contains(first))
            && name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    // MARK: Start

    /// What the server's settings make of a commit, read at start by ``checkReachable(_:connectTimeout:logger:)``.
    ///
    /// An acknowledgement means committed: with `synchronous_commit = off` (for the server, the database or the
    /// role) PostgreSQL answers a `COMMIT` before the commit is on disk, and a crash of its machine loses what was
    /// acknowledged. So the pool's connections ask for ``synchronousCommit`` at their start, which outranks the
    /// server's, the database's and the role's settings: the server's own value when it is durable (`on`, `local`,
    /// `remote_write`, `remote_apply`, whichever the operator chose for replication), `on` when it is `off`. With
    /// `fsync = off` (the whole server's, which a connection cannot change) nothing is durable: ``warning`` says so.
    public struct Durability: Sendable, Equatable {
        /// `synchronous_commit` as the server gives it to this user and database.
        public var serverSynchronousCommit: String
        /// The server's `fsync`.
        public var fsync: String

        public init(serverSynchronousCommit: String, fsync: String) {
            self.serverSynchronousCommit = serverSynchronousCommit
            self.fsync = fsync
        }

        /// What the pool's connections set: the server's value unless it is `off`.
        public var synchronousCommit: String {
            serverSynchronousCommit == "off" ? "on" : serverSynchronousCommit
        }

        /// A line for the log and the terminal when the server does not keep commits across a crash, or when its
        /// `synchronous_commit = off` is overridden.
        public var warning: String? {
            if fsync == "off" {
                return
                    "the PostgreSQL server runs with fsync = off: a crash of its machine can lose commits that were acknowledged to students; set fsync = on"
            }
            if serverSynchronousCommit == "off" {
                return "the PostgreSQL server gives synchronous_commit = off; this instance's connections use on"
            }
            return nil
        }
    }

    /// Connects once, on a connection of its own, so that a database that cannot be reached or refuses the user is
    /// a clear error at start (the pool would retry quietly for a minute), and reads what the server does with a
    /// commit.
    ///
    /// - Returns: The server's settings that make a commit durable.
    /// - Throws: ``StorageOpenError`` naming the host and the cause, never the password.
    @discardableResult
    public static func checkReachable(_ url: DatabaseURL, connectTimeout: Duration = .seconds(5), logger: Logger)
        async throws -> Durability
    {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: .disable)
        do {
            switch url.tls {
            case .disable: break
            case .prefer: configuration.tls = .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: configuration.tls = .require(try .init(configuration: .makeClientConfiguration()))
            }
            configuration.options.connectTimeout = .seconds(max(1, connectTimeout.components.seconds))
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            do {
                let settings = try await connection.rows(
                    "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync",
                    logger)
                let durability = Durability(
                    serverSynchronousCommit: try settings.first?.value("synchronous_commit", as: String.self) ?? "",
                    fsync: try settings.first?.value("fsync", as: String.self) ?? "")
                try? await connection.close()
                return durability
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw StorageOpenError(
                location: url.redacted, reason: Self.explainStart(error, url: url), detail: String(reflecting: error))
        }
    }

    /// Plain words for why a connection at start failed: the host and the cause.
    static func explainStart(_ error: any Error, url: DatabaseURL) -> String {
        let server = "the PostgreSQL server at \(url.host):\(url.port)"
        guard let error = error as? PSQLError else {
            return "\(server) cannot be reached (\(NetworkFailure.describe(error)))"
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "an error"
            switch state {
            case "28P01", "28000":
                return "\(server) refused the user \(url.user): \(message)"
            case "3D000":
                return "\(server) has no database \(url.database) (create it with createdb, or name another)"
            default:
                return "\(server) answered: \(message) (SQLSTATE \(state))"
            }
        case .sslUnsupported:
            return "\(server) does not offer TLS, which sslmode=require asks for"
        case .authMechanismRequiresPassword:
            return "\(server) asks for a password: give it in the URL, with --database-password-file, or in PGPASSWORD"
        case .connectionError:
            return
                "\(server) cannot be reached (\(error.underlying.map(NetworkFailure.describe) ?? "connection failed"))"
        default:
            return "\(server) cannot be used (\(error.code))"
        }
    }

    // MARK: Operations

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled back when it throws
    /// (its error is rethrown as it is).
    ///
    /// - Throws: ``StorageUnavailable`` when no connection can be had in time or the connection breaks; `body`'s
    ///   error; PostgreSQL's error for a failed statement.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T
    {
        // PostgreSQL may end a transaction that two others deadlocked on, or one it cannot serialize; it changed
        // nothing, so it is run again.
        var attempt = 1
        while true {
            do {
                return try await transactionOnce(body)
            } catch let error as PSQLError where attempt < Self.transactionAttempts && error.isRetryable {
                logger.debug("transaction retried", metadata: ["sqlstate": "\(error.serverInfo?[.sqlState] ?? "")"])
                attempt += 1
            }
        }
    }

    /// How often a transaction that ended in a deadlock or a serialization failure is tried in all.
    static let transactionAttempts = 3

    private func transactionOnce<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let logger = logger
        return try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let value: T
            do {
                value = try await body(connection)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            try await connection.query("COMMIT", logger: logger)
            return value
        }
    }

    /// Runs `body` on one connection, outside a transaction (reads).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let client = client
        let timeout = configuration.operationTimeout
        let location = location
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await client.withConnection { try await body($0) } }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw StorageUnavailable(
                        location: location, cause: "no connection within \(timeout.components.seconds) s")
                }
                defer { group.cancelAll() }
                guard let value = try await group.next() else {
                    throw StorageUnavailable(location: location, cause: "the operation ended without a result")
                }
                return value
            }
        } catch {
            throw Self.classify(error, location: location)
        }
    }

    /// The rows of one statement, read into memory.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        let logger = logger
        return try await withConnection { connection in try await connection.rows(query, logger) }
    }

    /// An error from postgres-nio as the stores' callers see it: a connection that cannot be had or broke is
    /// ``StorageUnavailable``; anything else (a constraint, a rule's refusal) stays as it is.
    static func classify(_ error: any Error, location: String) -> any Error {
        switch error {
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                .queryCancelled, .sslUnsupported, .failedToAddSSLHandler:
                return StorageUnavailable(location: location, cause: "\(error.code)")
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                // Class 08: connection exceptions; 57P0x: the server is shutting down or starting; 53300: no free
                // connection slot.
                if state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state) {
                    return StorageUnavailable(
                        location: location, cause: error.serverInfo?[.message] ?? "SQLSTATE \(state)")
                }
                return error
            default:
                return error
            }
        case is ConnectionPoolError, is ChannelError, is IOError, is NIOConnectionError, is CancellationError:
            return StorageUnavailable(location: location, cause: "\(error)")
        default:
            return error
        }
    }
}

extension PostgresConnection {
    /// The rows of one statement, read into memory.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// Runs one statement and returns how many rows it returned (with `RETURNING`, how many it changed).
    @discardableResult
    func run(_ query: PostgresQuery, _ logger: Logger) async throws -> Int {
        try await self.query(query, logger: logger).collect().count
    }
}

extension PSQLError {
    /// A unique constraint was violated (SQLSTATE 23505).
    var isUniqueViolation: Bool {
        code == .server && serverInfo?[.sqlState] == "23505"
    }

    /// A deadlock (40P01) or a serialization failure (40001): the transaction changed nothing and may run again.
    var isRetryable: Bool {
        code == .server && ["40P01", "40001"].contains(serverInfo?[.sqlState] ?? "")
    }
}

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try value(column, as: Double.self))
    }

    func optionalDate(_ column: String) throws -> Date? {
        try value(column, as: Double?.self).map(Date.init(timeIntervalSince1970:))
    }

    func bytes(_ column: String) throws -> [UInt8] {
        [UInt8](try value(column, as: Data.self))
    }
}
