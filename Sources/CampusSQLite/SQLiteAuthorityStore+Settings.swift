import CampusAuthority
import CampusPKI
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func recordSetting(_ name: String, _ value: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO setting (name, value) VALUES (?, ?)", arguments: [name, value])
        }
    }

    public func setting(_ name: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM setting WHERE name = ?", arguments: [name])
        }
    }
}
