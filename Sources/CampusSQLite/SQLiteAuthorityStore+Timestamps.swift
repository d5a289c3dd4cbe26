import CampusAuthority
import CampusPKI
import Foundation
import GRDB
import X509

extension SQLiteAuthorityStore {
    /// The name under which the TSA certificate is kept among the service certificates.
    static let timestampAuthorityServiceName = TimestampAuthorityCertificate.serviceName

    /// The table of issued timestamp tokens.
    static func registerTimestampMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-timestamp-tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE timestamp_token (
                        serial TEXT PRIMARY KEY NOT NULL,
                        gen_time REAL NOT NULL,
                        hash_algorithm TEXT NOT NULL,
                        imprint BLOB NOT NULL,
                        authority_serial TEXT NOT NULL
                    );
                    CREATE INDEX timestamp_token_gen_time ON timestamp_token(gen_time);
                    """
            )
        }
    }

    public func recordTimestamp(_ record: TimestampRecord) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO timestamp_token (serial, gen_time, hash_algorithm, imprint, authority_serial)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        record.serial, record.generationTime.timeIntervalSince1970, record.hashAlgorithm.rawValue,
                        Data(record.imprint), record.authoritySerial,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.duplicateSerial(record.serial)
        }
    }

    public func timestampRecords(limit: Int) async throws -> [TimestampRecord] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM timestamp_token ORDER BY gen_time, serial LIMIT ?", arguments: [limit]
            ).compactMap { row in
                guard let algorithm = TimestampHashAlgorithm(rawValue: row["hash_algorithm"]) else { return nil }
                return TimestampRecord(
                    serial: row["serial"], generationTime: Date(timeIntervalSince1970: row["gen_time"]),
                    hashAlgorithm: algorithm, imprint: Array(row["imprint"] as Data),
                    authoritySerial: row["authority_serial"])
            }
        }
    }

    public func timestampCount() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM timestamp_token") ?? 0 }
    }

    public func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) async throws {
        let pem = try certificate.serializeAsPEM().text
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO service_certificate (serial, name, not_before, not_after, pem, issued_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    certificate.serialNumber.hex, Self.timestampAuthorityServiceName,
                    certificate.notValidBefore.timeIntervalSince1970, certificate.notValidAfter.timeIntervalSince1970,
                    pem, issuedAt.timeIntervalSince1970,
                ])
        }
    }

    public func timestampAuthorityCertificates() async throws -> [Certificate] {
        try await database.read { db in
            try String.fetchAll(
                db, sql: "SELECT pem FROM service_certificate WHERE name = ? ORDER BY issued_at DESC, serial",
                arguments: [Self.timestampAuthorityServiceName])
        }.compactMap { try? Certificate(pemEncoded: $0) }
    }
}
