import CampusPKI
import Foundation
import GRDB

extension SQLiteCertificateRegistry {
    /// Records a setting (CUHK's and Blackboard's addresses for the code slips), durably.
    public func recordSetting(_ name: String, _ value: String) throws {
        try database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO setting (name, value) VALUES (?, ?)", arguments: [name, value])
        }
    }

    /// A setting recorded with ``recordSetting(_:_:)``.
    public func setting(_ name: String) throws -> String? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM setting WHERE name = ?", arguments: [name])
        }
    }
}
