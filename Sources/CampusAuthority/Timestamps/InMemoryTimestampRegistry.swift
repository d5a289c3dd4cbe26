import CampusPKI
import Foundation
import Synchronization
import X509

/// A timestamp registry that forgets everything on exit; for unit tests.
public final class InMemoryTimestampRegistry: TimestampRegistry {
    private let records = Mutex<[TimestampRecord]>([])
    private let certificates = Mutex<[Certificate]>([])

    public init() {}

    public func recordTimestamp(_ record: TimestampRecord) async throws {
        try records.withLock { records in
            guard !records.contains(where: { $0.serial == record.serial }) else {
                throw RegistryError.duplicateSerial(record.serial)
            }
            records.append(record)
        }
    }

    public func timestampRecords(limit: Int) async throws -> [TimestampRecord] {
        records.withLock { Array($0.prefix(limit)) }
    }

    public func timestampCount() async throws -> Int {
        records.withLock { $0.count }
    }

    public func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) throws {
        certificates.withLock { $0.insert(certificate, at: 0) }
    }

    public func timestampAuthorityCertificates() throws -> [Certificate] {
        certificates.withLock { $0 }
    }
}
