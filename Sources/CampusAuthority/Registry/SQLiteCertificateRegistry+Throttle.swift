import CampusPKI
import Foundation
import GRDB

extension SQLiteCertificateRegistry: ThrottleRecords {
    public func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date? {
        try await database.read { db in
            try Double.fetchOne(
                db, sql: "SELECT until FROM throttle WHERE address = ? AND until > ?",
                arguments: [address.description, time.timeIntervalSince1970]
            ).map(Date.init(timeIntervalSince1970:))
        }
    }

    public func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM throttle WHERE until <= ?", arguments: [time.timeIntervalSince1970])
            try db.execute(
                sql: "INSERT OR REPLACE INTO throttle (address, since, until) VALUES (?, ?, ?)",
                arguments: [
                    entry.address.description, entry.since.timeIntervalSince1970, entry.until.timeIntervalSince1970,
                ])
            try db.execute(
                sql: """
                    DELETE FROM throttle WHERE address NOT IN
                    (SELECT address FROM throttle ORDER BY since DESC, address LIMIT ?)
                    """,
                arguments: [max(keepingAtMost, 1)])
        }
    }

    public func throttledAddresses(at time: Date) async throws -> [ThrottledAddress] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM throttle WHERE until > ? ORDER BY since, address",
                arguments: [time.timeIntervalSince1970]
            ).compactMap { row in
                SourceAddress(row["address"] as String).map { address in
                    ThrottledAddress(
                        address: address, since: Date(timeIntervalSince1970: row["since"]),
                        until: Date(timeIntervalSince1970: row["until"]))
                }
            }
        }
    }

    public func clearThrottle(_ address: SourceAddress?) async throws -> Int {
        try await writer.write { db in
            if let address {
                try db.execute(sql: "DELETE FROM throttle WHERE address = ?", arguments: [address.description])
            } else {
                try db.execute(sql: "DELETE FROM throttle")
            }
            return db.changesCount
        }
    }
}
