import CampusAuthority
import CampusPKI
import Foundation
import GRDB

extension SQLiteAuthorityStore {
    public func recordFailure(
        from address: SourceAddress, at time: Date, budget: EnrollmentThrottle.Configuration
    ) async throws -> Date? {
        try await writer.write { db in
            let now = time.timeIntervalSince1970
            if let until = try Double.fetchOne(
                db, sql: "SELECT until FROM throttle WHERE address = ? AND until > ?",
                arguments: [address.description, now])
            {
                return Date(timeIntervalSince1970: until)
            }
            let stored = try Row.fetchOne(
                db, sql: "SELECT tokens, updated FROM throttle_allowance WHERE address = ?",
                arguments: [address.description]
            ).map { row in
                EnrollmentThrottle.Allowance(
                    tokens: row["tokens"], updated: Date(timeIntervalSince1970: row["updated"]))
            }
            switch EnrollmentThrottle.spend(stored, of: address, at: time, configuration: budget) {
            case .allowed(let allowance):
                try db.execute(
                    sql: """
                        INSERT INTO throttle_allowance (address, tokens, updated) VALUES (?, ?, ?)
                        ON CONFLICT(address) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated
                        """,
                    arguments: [address.description, allowance.tokens, allowance.updated.timeIntervalSince1970])
                try Self.forgetAllowances(in: db, at: time, budget: budget)
                return nil
            case .throttled(let entry):
                try db.execute(
                    sql: "DELETE FROM throttle_allowance WHERE address = ?", arguments: [address.description])
                try Self.putOnList(entry, in: db, at: time, keepingAtMost: budget.maximumRecorded)
                return entry.until
            }
        }
    }

    /// Forgets the addresses that have all their attempts again, then the longest quiet beyond the budget's limit.
    static func forgetAllowances(in db: Database, at time: Date, budget: EnrollmentThrottle.Configuration) throws {
        try db.execute(
            sql: "DELETE FROM throttle_allowance WHERE updated < ?",
            arguments: [EnrollmentThrottle.fullAgainBefore(time, configuration: budget).timeIntervalSince1970])
        let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM throttle_allowance") ?? 0
        guard count > budget.maximumTracked else { return }
        try db.execute(
            sql: """
                DELETE FROM throttle_allowance WHERE address NOT IN
                (SELECT address FROM throttle_allowance ORDER BY updated DESC, address LIMIT ?)
                """,
            arguments: [max(budget.maximumTracked, 1)])
    }

    static func putOnList(_ entry: ThrottledAddress, in db: Database, at time: Date, keepingAtMost: Int) throws {
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

    public func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date? {
        try await database.read { db in
            try Double.fetchOne(
                db, sql: "SELECT until FROM throttle WHERE address = ? AND until > ?",
                arguments: [address.description, time.timeIntervalSince1970]
            ).map(Date.init(timeIntervalSince1970:))
        }
    }

    public func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws {
        try await writer.write { db in try Self.putOnList(entry, in: db, at: time, keepingAtMost: keepingAtMost) }
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
                try db.execute(
                    sql: "DELETE FROM throttle_allowance WHERE address = ?", arguments: [address.description])
                try db.execute(sql: "DELETE FROM throttle WHERE address = ?", arguments: [address.description])
            } else {
                try db.execute(sql: "DELETE FROM throttle_allowance")
                try db.execute(sql: "DELETE FROM throttle")
            }
            return db.changesCount
        }
    }
}
