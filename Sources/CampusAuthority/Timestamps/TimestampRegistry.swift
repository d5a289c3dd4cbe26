import CampusPKI
import Foundation
import X509

/// What CUHK's timestamp service stores: every token it issues (recorded durably before the token is sent), and
/// its TSA certificates.
public protocol TimestampRegistry: Sendable {
    /// Records a token; returns only after a durable commit.
    ///
    /// - Throws: ``RegistryError/duplicateSerial(_:)`` when the serial is recorded already.
    func recordTimestamp(_ record: TimestampRecord) async throws

    /// The tokens recorded, oldest first, at most `limit`.
    func timestampRecords(limit: Int) async throws -> [TimestampRecord]

    /// How many tokens are recorded.
    func timestampCount() async throws -> Int

    /// Records a TSA certificate, durably, before its file is written.
    func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) async throws

    /// The TSA certificates recorded, newest first.
    func timestampAuthorityCertificates() async throws -> [Certificate]
}
