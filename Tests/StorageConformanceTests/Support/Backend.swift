import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusTestSupport
import Foundation
import Testing

@testable import CampusPostgres

/// The engines every conformance case runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, postgres

    /// Memory and SQLite always; PostgreSQL when a database is reachable (or required).
    static let all: [Backend] = [.memory, .sqlite] + (TestDatabase.runs ? [.postgres] : [])

    /// The engines on which several stores can share one database (all three: several memory stores "share" by
    /// being one object).
    static let shared = all

    var testDescription: String { rawValue }

    /// Runs `body` with `count` stores of CUHK's over one database: as several CUHK instances would see it (SQLite:
    /// several connections to one file; PostgreSQL: several connection pools on one schema, opened together so
    /// their migrations race; memory: one store).
    func withAuthorityStores<T>(
        _ count: Int = 1, operationTimeout: Duration = .seconds(120),
        _ body: ([any AuthorityStore]) async throws -> T
    ) async throws -> T {
        switch self {
        case .memory:
            let store = InMemoryAuthorityStore()
            return try await body(Array(repeating: store, count: count))
        case .sqlite:
            let path = SecureFile.join(try temporaryDirectory(), SQLiteAuthorityStore.fileName)
            return try await body(try (0..<count).map { _ in try SQLiteAuthorityStore(path: path) })
        case .postgres:
            return try await withPostgres(
                count, schema: TestDatabase.freshSchema("cuhk"), operationTimeout: operationTimeout,
                open: { try await PostgresAuthorityStore.open($0) }, body)
        }
    }

    /// Runs `body` with `count` stores of Blackboard's over one database.
    func withBlackboardStores<T>(
        _ count: Int = 1, operationTimeout: Duration = .seconds(120),
        _ body: ([any BlackboardStore]) async throws -> T
    ) async throws -> T {
        switch self {
        case .memory:
            let store = InMemoryBlackboardStore()
            return try await body(Array(repeating: store, count: count))
        case .sqlite:
            let path = SecureFile.join(try temporaryDirectory(), SQLiteBlackboardStore.fileName)
            return try await body(try (0..<count).map { _ in try SQLiteBlackboardStore(path: path) })
        case .postgres:
            return try await withPostgres(
                count, schema: TestDatabase.freshSchema("blackboard"), operationTimeout: operationTimeout,
                open: { try await PostgresBlackboardStore.open($0) }, body)
        }
    }

    /// `count` pools on one fresh schema, each running while `body` runs, opened concurrently; the schema is dropped
    /// afterwards.
    func withPostgres<Store: Sendable, T>(
        _ count: Int, schema: String, operationTimeout: Duration,
        open: @escaping @Sendable (PostgresDatabase) async throws -> Store, _ body: ([Store]) async throws -> T
    ) async throws -> T {
        let url = try #require(TestDatabase.url, "CAMPUSPKI_REQUIRE_POSTGRES is set but CAMPUSPKI_TEST_DATABASE is not")
        let databases = try (0..<count).map { _ in
            try PostgresDatabase(
                configuration: .init(
                    url: url, schema: schema, operationTimeout: operationTimeout, maximumConnections: 4,
                    applicationName: "campuspki-tests"),
                logger: TestDatabase.quiet)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for database in databases { group.addTask { await database.run() } }
            defer { group.cancelAll() }
            let stores = try await withThrowingTaskGroup(of: (Int, Store).self) { opening in
                for (index, database) in databases.enumerated() {
                    opening.addTask { (index, try await open(database)) }
                }
                var stores: [(Int, Store)] = []
                for try await store in opening { stores.append(store) }
                return stores.sorted { $0.0 < $1.0 }.map(\.1)
            }
            do {
                let result = try await body(stores)
                try await databases[0].dropSchema()
                return result
            } catch {
                try? await databases[0].dropSchema()
                throw error
            }
        }
    }
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-conformance")
}

/// Runs `work` `count` times at once.
func concurrently<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) async -> T) async -> [T] {
    await withTaskGroup(of: (Int, T).self) { group in
        for index in 0..<count { group.addTask { (index, await work(index)) } }
        var results: [(Int, T)] = []
        for await result in group { results.append(result) }
        return results.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
