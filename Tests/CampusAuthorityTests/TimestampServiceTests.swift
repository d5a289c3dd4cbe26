import CampusAdmin
import CampusPKI
import CampusSQLite
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import CampusAuthority

/// CUHK's timestamp authority without a socket: what it grants and records, what it refuses and why, its metrics,
/// and its HTTP route.
struct TimestampServiceTests {
    static let root = CertificateAuthorityTests.root
    static let key = P256.Signing.PrivateKey()
    static let authority = TimestampAuthorityCertificate(
        certificate: try! TimestampAuthorityCertificate.make(key: key, root: root), privateKey: key)
    static let quiet = OCSPResponderTests.quiet
    static let data = Array("lab-3 report of 1155123456".utf8)

    /// Collects events.
    final class Events: Sendable {
        private let storage = Mutex<[AuthorityEvent]>([])
        var sink: AuthorityEventSink { { event in self.storage.withLock { $0.append(event) } } }
        var all: [AuthorityEvent] { storage.withLock { $0 } }
    }

    func service(
        authority: TimestampAuthorityCertificate = Self.authority, registry: any TimestampRegistry,
        events: Events = Events()
    ) -> TimestampService {
        TimestampService(authority: authority, registry: registry, events: events.sink)
    }

    func reply(_ service: TimestampService, _ request: [UInt8], now: Date = Date()) async throws -> TimestampResponse {
        try TimestampResponse(derEncoded: await service.respond(to: request, now: now, logger: Self.quiet))
    }

    @Test func aGrantedTokenIsRecordedAndVerifies() async throws {
        let registry = InMemoryAuthorityStore()
        let events = Events()
        let tsa = service(registry: registry, events: events)
        let second = Date().timeIntervalSince1970.rounded(.down)
        let now = Date(timeIntervalSince1970: second + 0.4567)
        let request = TimestampRequest(
            messageImprint: MessageImprint(of: Self.data), nonce: TimestampRequest.randomNonce(),
            certificateRequested: true)
        let response = try await reply(tsa, request.derEncoded(), now: now)
        #expect(response.status == PKIStatusInfo(status: .granted))
        let token = try response.grantedToken()
        let verified = try await TimestampVerifier(root: Self.root.certificate).verify(
            token.derEncoded, data: Self.data, nonce: request.nonce, now: now)
        #expect(verified.generationTime == Date(timeIntervalSince1970: (second * 1000 + 456) / 1000))
        #expect(verified.generationTimeText == ReceiptDocument.timestamp(now).dropLast() + ".456Z")
        #expect(verified.policy == .cuhk)
        #expect(verified.accuracy == TimestampService.defaultAccuracy)
        #expect(verified.nonce == request.nonce)
        #expect(verified.serialNumber.count == 16)
        #expect(verified.signer == Self.authority.certificate)
        #expect(token.certificates == [Self.authority.certificate])
        let record = try #require(try await registry.timestampRecords(limit: 10).first)
        #expect(record.serial == verified.serialHex)
        #expect(record.generationTime == verified.generationTime)
        #expect(record.hashAlgorithm == .sha256)
        #expect(record.imprint == Array(SHA256.hash(data: Self.data)))
        #expect(record.authoritySerial == Self.authority.certificate.serialNumber.hex)
        #expect(events.all == [.timestampIssued(serial: verified.serialHex, hashAlgorithm: .sha256)])
    }

    @Test func certReqIsHonouredAndEveryHashOfSHA2IsAccepted() async throws {
        let tsa = service(registry: InMemoryAuthorityStore())
        for algorithm in TimestampHashAlgorithm.allCases {
            let request = TimestampRequest(
                messageImprint: MessageImprint(of: Self.data, hashAlgorithm: algorithm), certificateRequested: false)
            let token = try await reply(tsa, request.derEncoded()).grantedToken()
            #expect(token.certificates.isEmpty)
            #expect(token.info.messageImprint.hashAlgorithm == algorithm)
            #expect(token.info.nonce == nil)
            let verifier = TimestampVerifier(
                root: Self.root.certificate, additionalCertificates: [Self.authority.certificate])
            _ = try await verifier.verify(token.derEncoded, data: Self.data)
        }
    }

    @Test func theRequestsImprintIsCopiedByteForByte() async throws {
        // OpenSSL writes NULL hash parameters; the token's TSTInfo repeats the imprint exactly.
        let imprint = try MessageImprint(
            hashAlgorithm: .sha256, hashedMessage: Array(SHA256.hash(data: Self.data)), hasNullParameters: true)
        let request = TimestampRequest(messageImprint: imprint, nonce: [0x87, 0x4d, 0x3b])
        let token = try await reply(service(registry: InMemoryAuthorityStore()), request.derEncoded())
            .grantedToken()
        #expect(token.info.messageImprint == imprint)
        #expect(token.info.nonce == [0x87, 0x4d, 0x3b])
    }

    @Test func serialsAreUnique() async throws {
        let registry = InMemoryAuthorityStore()
        let tsa = service(registry: registry)
        var serials: Set<String> = []
        for _ in 0..<50 {
            let request = TimestampRequest(messageImprint: MessageImprint(of: Self.data))
            serials.insert(try await reply(tsa, request.derEncoded()).grantedToken().info.serialHex)
        }
        #expect(serials.count == 50)
        #expect(try await registry.timestampCount() == 50)
    }

    @Test func badRequestsGetTheRFC3161RejectionThatSaysWhy() async throws {
        let registry = InMemoryAuthorityStore()
        let events = Events()
        let tsa = service(registry: registry, events: events)
        let sha1: [UInt8] =
            [
                0x30, 0x29, 0x02, 0x01, 0x01, 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05,
                0x00,
                0x04, 0x14,
            ] + [UInt8](repeating: 0x01, count: 20) + [0x01, 0x01, 0xff]
        let otherPolicy = TimestampRequest(
            messageImprint: MessageImprint(of: Self.data), policy: try TimestampPolicy(dotted: "1.2.3.4"))
        var withExtensions = Array(TimestampRequest(messageImprint: MessageImprint(of: Self.data)).derEncoded())
        withExtensions += [0xa0, 0x00]
        withExtensions[1] += 2
        let cases: [([UInt8], PKIStatusInfo.FailureInfo, String)] = [
            (sha1, .badAlgorithm, "1.3.14.3.2.26 is not accepted"),
            (Array("not a request".utf8), .badDataFormat, "not a DER TimeStampReq"),
            ([UInt8](repeating: 0x30, count: 5000), .badDataFormat, "more than the 4096 accepted"),
            (otherPolicy.derEncoded(), .unacceptedPolicy, TimestampPolicy.cuhk.description),
            (withExtensions, .unacceptedExtension, "accepts no request extensions"),
        ]
        for (request, failure, text) in cases {
            let response = try await reply(tsa, request)
            #expect(response.status.status == .rejection)
            #expect(response.status.failure == failure)
            #expect(response.status.text.joined().contains(text), "\(response.status.text)")
            #expect(response.token == nil)
        }
        #expect(try await registry.timestampCount() == 0)
        #expect(events.all == cases.map { .timestampRefused($0.1) })
    }

    @Test func anExpiredAuthorityOrAFailingRegistryIssuesNothing() async throws {
        let key = P256.Signing.PrivateKey()
        let expired = TimestampAuthorityCertificate(
            certificate: try TimestampAuthorityCertificate.make(
                key: key, root: Self.root, validityDays: 1, now: Date().addingTimeInterval(-3 * 86_400)),
            privateKey: key)
        #expect(expired.validityWarning()?.contains("expired") == true)
        let request = TimestampRequest(messageImprint: MessageImprint(of: Self.data)).derEncoded()
        let refused = try await reply(service(authority: expired, registry: InMemoryAuthorityStore()), request)
        #expect(refused.status.failure == .systemFailure)

        struct Broken: TimestampRegistry {
            struct Failure: Error {}
            func recordTimestamp(_ record: TimestampRecord) async throws { throw Failure() }
            func timestampRecords(limit: Int) async throws -> [TimestampRecord] { [] }
            func timestampCount() async throws -> Int { 0 }
            func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) throws {}
            func timestampAuthorityCertificates() throws -> [Certificate] { [] }
        }
        let unrecorded = try await reply(service(registry: Broken()), request)
        #expect(unrecorded.status.failure == .systemFailure)
        #expect(unrecorded.status.text == ["the timestamp authority could not make or record the token"])
        #expect(unrecorded.token == nil)
    }

    @Test func metricsCountTokensAndRefusals() async throws {
        let metrics = ServerMetrics()
        let observer = AuthorityMetrics(metrics: metrics)
        #expect(metrics.exposition().contains("\(AuthorityMetrics.timestampsIssuedName) 0"))
        let tsa = TimestampService(
            authority: Self.authority, registry: InMemoryAuthorityStore(), events: observer.sink)
        for _ in 0..<2 {
            _ = await tsa.respond(
                to: TimestampRequest(messageImprint: MessageImprint(of: Self.data)).derEncoded(), logger: Self.quiet)
        }
        _ = await tsa.respond(to: [0x30, 0x00], logger: Self.quiet)
        let text = metrics.exposition()
        #expect(text.contains("\(AuthorityMetrics.timestampsIssuedName) 2"))
        #expect(text.contains("\(AuthorityMetrics.timestampsRefusedName){failure=\"badDataFormat\"} 1"))
    }

    @Test func theSQLiteRegistryKeepsTokensDurably() async throws {
        let path = SecureFile.join(try temporaryDirectory(), "cuhk.db")
        let registry = try SQLiteAuthorityStore(path: path)
        let record = TimestampRecord(
            serial: "4a01", generationTime: Date(timeIntervalSince1970: 1_795_827_723.5), hashAlgorithm: .sha384,
            imprint: [UInt8](repeating: 7, count: 48), authoritySerial: "40aa")
        try await registry.recordTimestamp(record)
        await #expect(throws: RegistryError.duplicateSerial("4a01")) { try await registry.recordTimestamp(record) }
        let reopened = try SQLiteAuthorityStore(path: path)
        #expect(try await reopened.timestampRecords(limit: 10) == [record])
        #expect(try await reopened.timestampCount() == 1)
    }

    @Test func theRouteAnswersRepliesAndRefusesBadBodies() async throws {
        let router = Router()
        TimestampHTTPRoute.register(on: router, service: service(registry: InMemoryAuthorityStore()))
        let request = TimestampRequest(messageImprint: MessageImprint(of: Self.data)).derEncoded()
        try await Application(router: router).test(.router) { client in
            let granted = try await client.execute(
                uri: "/tsa", method: .post, headers: [.contentType: "application/timestamp-query"],
                body: ByteBuffer(bytes: request))
            #expect(granted.status == .ok)
            #expect(granted.headers[.contentType] == "application/timestamp-reply")
            let response = try TimestampResponse(derEncoded: Array(buffer: granted.body))
            #expect(response.status.status == .granted)

            let refused = try await client.execute(
                uri: "/tsa", method: .post, headers: [.contentType: "application/timestamp-query"],
                body: ByteBuffer(string: "hello"))
            #expect(refused.status == .ok)
            #expect(try TimestampResponse(derEncoded: Array(buffer: refused.body)).status.failure == .badDataFormat)

            let tooLarge = try await client.execute(
                uri: "/tsa", method: .post, headers: [.contentType: "application/timestamp-query"],
                body: ByteBuffer(bytes: [UInt8](repeating: 0, count: TimestampService.maximumRequestSize + 1)))
            #expect(tooLarge.status == .contentTooLarge)
            #expect(String(buffer: tooLarge.body).contains("at most 4096 bytes"))

            let wrongType = try await client.execute(
                uri: "/tsa", method: .post, headers: [.contentType: "application/octet-stream"],
                body: ByteBuffer(bytes: request))
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(String(buffer: wrongType.body).contains("Content-Type: application/timestamp-query"))
        }
    }
}
