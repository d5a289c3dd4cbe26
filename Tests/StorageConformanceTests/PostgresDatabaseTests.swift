import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStorage
import Foundation
import Testing

@testable import CampusPostgres

/// Whether the PostgreSQL cases run: skipped, with the reason, when no database is named or none answers (and
/// `CAMPUSPKI_REQUIRE_POSTGRES` is unset); with it set, this fails instead.
@Test(.enabled(if: TestDatabase.runs, Comment(rawValue: TestDatabase.skipReason)))
func postgreSQLAvailability() throws {
    let url = try #require(TestDatabase.url, "CAMPUSPKI_REQUIRE_POSTGRES is set but CAMPUSPKI_TEST_DATABASE is not")
    #expect(TestDatabase.reachable, "no PostgreSQL answers at \(url.host):\(url.port)")
}

/// What only PostgreSQL has: migrations under an advisory lock, a refused newer schema, unreachable servers and
/// passwords.
@Suite(.enabled(if: TestDatabase.runs)) struct PostgresDatabaseTests {
    /// Four CUHK stores and four Blackboard stores opened at once on fresh schemas migrate each schema once.
    @Test func storesOpenedTogetherMigrateOnce() async throws {
        try await Backend.postgres.withAuthorityStores(4) { stores in
            let store = try #require(stores[0] as? PostgresAuthorityStore)
            let versions = try await store.database.rows("SELECT version FROM schema_migration ORDER BY version")
                .map { try $0.value("version", as: Int.self) }
            #expect(versions == Array(1...PostgresAuthorityStore.migrations.count))
        }
        try await Backend.postgres.withBlackboardStores(4) { stores in
            let store = try #require(stores[0] as? PostgresBlackboardStore)
            let versions = try await store.database.rows("SELECT version FROM schema_migration ORDER BY version")
                .map { try $0.value("version", as: Int.self) }
            #expect(versions == Array(1...PostgresBlackboardStore.migrations.count))
            #expect(try await store.assignments().map(\.name) == [Assignment.defaultName])
        }
    }

    /// A schema a newer version migrated is refused, with a message saying so, and left as it was.
    @Test func aSchemaMigratedByANewerVersionIsRefused() async throws {
        try await Backend.postgres.withAuthorityStores { stores in
            let store = try #require(stores[0] as? PostgresAuthorityStore)
            try await store.database.execute(
                unsafeSQL: "INSERT INTO schema_migration VALUES (99, 'from the future', 0)")
            let error = try await #require(throws: StorageOpenError.self) {
                _ = try await PostgresAuthorityStore.open(store.database)
            }
            #expect(error.reason.contains("newer than this version of cuhk"), "\(error)")
            #expect(error.reason.contains("99 from the future"), "\(error)")
            #expect(
                try await store.database.rows("SELECT version FROM schema_migration").count
                    == PostgresAuthorityStore.migrations.count + 1)
        }
    }

    /// A server nobody listens on is a clear error at start: the host and port and the cause, not the password.
    @Test func anUnreachableServerIsNamedWithoutThePassword() async throws {
        let url = try DatabaseURL(parsing: "postgres://campuspki:s3cret-pw@127.0.0.1:1/campuspki")
        let error = try await #require(throws: StorageOpenError.self) {
            try await PostgresDatabase.checkReachable(url, logger: TestDatabase.quiet)
        }
        #expect(error.description.contains("127.0.0.1:1"), "\(error)")
        #expect(error.reason.contains("cannot be reached"), "\(error)")
        #expect(!"\(error) \(error.detail) \(String(reflecting: error))".contains("s3cret-pw"))
    }

    /// A user with a password logs in with it, and a wrong one is refused with a message that names the user and
    /// not the password.
    @Test func aPasswordIsUsedAndNeverShown() async throws {
        let base = try #require(TestDatabase.url)
        let role = "u" + SessionKeySchedule.randomBytes(5).hexString
        let password = "pw-" + SessionKeySchedule.randomBytes(8).hexString
        try await Backend.postgres.withAuthorityStores { stores in
            let store = try #require(stores[0] as? PostgresAuthorityStore)
            try await store.database.execute(unsafeSQL: "CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
            defer { Task { try? await store.database.execute(unsafeSQL: "DROP ROLE IF EXISTS \(role)") } }
            var good = base
            good.user = role
            good.password = password
            try await PostgresDatabase.checkReachable(good, logger: TestDatabase.quiet)
            var bad = good
            bad.password = "wrong-" + password
            let error = try await #require(throws: StorageOpenError.self) {
                try await PostgresDatabase.checkReachable(bad, logger: TestDatabase.quiet)
            }
            #expect(error.reason.contains("refused the user \(role)"), "\(error)")
            let everything = "\(error) \(error.detail) \(String(reflecting: error)) \(bad) \(bad.redacted)"
            #expect(!everything.contains(password), "\(everything)")
        }
    }

    /// A role whose `synchronous_commit` is off still has its commits on disk before they are acknowledged: the
    /// opener reads the setting, says so, and the pool's connections ask for `on` at their start.
    @Test func commitsAreDurableWhateverTheRoleSays() async throws {
        let base = try #require(TestDatabase.url)
        let role = "u" + SessionKeySchedule.randomBytes(5).hexString
        let password = "pw-" + SessionKeySchedule.randomBytes(8).hexString
        let schema = "t_" + SessionKeySchedule.randomBytes(5).hexString + "_durable"
        try await Backend.postgres.withAuthorityStores { stores in
            let admin = try #require(stores[0] as? PostgresAuthorityStore)
            try await admin.database.execute(unsafeSQL: "CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
            try await admin.database.execute(unsafeSQL: "ALTER ROLE \(role) SET synchronous_commit = off")
            try await admin.database.execute(unsafeSQL: "GRANT CREATE ON DATABASE \(base.database) TO \(role)")
            var url = base
            url.user = role
            url.password = password
            do {
                let durability = try await PostgresDatabase.checkReachable(url, logger: TestDatabase.quiet)
                #expect(durability.serverSynchronousCommit == "off")
                #expect(durability.synchronousCommit == "on")
                #expect(durability.warning?.contains("synchronous_commit = off") == true, "\(durability)")
                try await StoreOpener.withAuthorityStore(at: .postgres(url, schema: schema), logger: TestDatabase.quiet)
                { store in
                    let store = try #require(store as? PostgresAuthorityStore)
                    // Several operations at once, so that more than one of the pool's connections answers.
                    let settings = try await withThrowingTaskGroup(of: String.self) { group in
                        for _ in 0..<4 {
                            group.addTask {
                                try await store.database.rows("SELECT current_setting('synchronous_commit') AS value")
                                    .first?.value("value", as: String.self) ?? ""
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(settings == ["on", "on", "on", "on"])
                    try await store.database.dropSchema()
                }
            } catch {
                Issue.record(error)
            }
            try await admin.database.execute(unsafeSQL: "REVOKE CREATE ON DATABASE \(base.database) FROM \(role)")
            try await admin.database.execute(unsafeSQL: "DROP ROLE \(role)")
        }
    }

    /// The server's durable settings are kept as they are (an operator's choice for replication); `off` becomes
    /// `on`; a server without `fsync` cannot be made durable by a connection, and is named in a warning.
    @Test func durabilityKeepsWhatTheServerMakesDurable() {
        for value in ["on", "local", "remote_write", "remote_apply"] {
            let durability = PostgresDatabase.Durability(serverSynchronousCommit: value, fsync: "on")
            #expect(durability.synchronousCommit == value)
            #expect(durability.warning == nil)
        }
        let off = PostgresDatabase.Durability(serverSynchronousCommit: "off", fsync: "on")
        #expect(off.synchronousCommit == "on")
        let noFsync = PostgresDatabase.Durability(serverSynchronousCommit: "on", fsync: "off")
        #expect(noFsync.warning?.contains("fsync = off") == true)
    }

    /// The opener stops at once, with the host, when the server cannot be reached.
    @Test func theOpenerReportsAnUnreachableDatabase() async throws {
        let url = try DatabaseURL(parsing: "postgres://campuspki:s3cret-pw@127.0.0.1:1/campuspki")
        let error = try await #require(throws: StorageOpenError.self) {
            try await StoreOpener.withAuthorityStore(at: .postgres(url), logger: TestDatabase.quiet) { _ in }
        }
        #expect(error.description.contains("127.0.0.1:1") && !error.description.contains("s3cret-pw"))
    }
}
