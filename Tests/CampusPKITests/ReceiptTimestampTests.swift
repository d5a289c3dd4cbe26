import CampusPKI
import Crypto
import Foundation
import Testing
import X509
import _CryptoExtras

/// Receipts with CUHK's timestamp: the document's timestamp lines, the timestamped-report text, and every check
/// `verify-receipt` makes of the token.
@Suite struct ReceiptTimestampTests {
    typealias PKI = SignedReceiptTests.PKI
    typealias TSA = TimestampTestPKI

    static let content = Array("The report of 1155123456, on time.\n".utf8)
    /// A deadline an hour from now, so that tokens made now are on time.
    static let deadline = ReceiptDocument.parseTimestamp(ReceiptDocument.timestamp(Date().addingTimeInterval(3600)))!

    /// A document for report 7 of `a1`, with CUHK's time `time` as its commit time.
    static func document(
        committedAt time: Date, late: Bool = false, deadline: Date? = ReceiptTimestampTests.deadline,
        timestamp: ReceiptDocument.TimestampClaim?
    ) throws -> ReceiptDocument {
        try ReceiptDocument(
            studentID: "1155123456", certificateSerial: "7f01", assignment: "a1", deadline: deadline, report: 7,
            messageCount: 1, totalBytes: UInt64(content.count), contentSHA256: Array(SHA256.hash(data: content)),
            committedAt: time, isLate: late, timestamp: timestamp)
    }

    /// A token over report 7's timestamped-report text (or `imprint`), made at `time` by `certificate`.
    static func token(
        at time: Date, imprint: MessageImprint? = nil, certificate: Certificate = TSA.tsa,
        key: P256.Signing.PrivateKey = TSA.tsaKey
    ) throws -> [UInt8] {
        let report = TimestampedReport(
            studentID: "1155123456", assignment: "a1", report: 7, contentSHA256: Array(SHA256.hash(data: content)))
        return try TSA.token(
            for: imprint ?? report.imprint, nonce: nil, at: time, certificate: certificate, key: key
        ).derEncoded
    }

    /// A signed receipt with a CUHK token made at `time`, claiming `late`.
    static func receipt(
        tokenAt time: Date, committedAt committed: Date? = nil, late: Bool = false, token: [UInt8]? = nil,
        deadline: Date? = ReceiptTimestampTests.deadline
    ) throws -> [UInt8] {
        let document = try Self.document(
            committedAt: committed ?? time, late: late, deadline: deadline,
            timestamp: .cuhk(token: try token ?? Self.token(at: time)))
        return try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
    }

    func verify(_ der: [UInt8]) async throws -> SignedReceipt.VerifiedReceipt {
        try await SignedReceipt.verify(der, root: PKI.root, blackboardName: "blackboard", content: Self.content)
    }

    /// The reason of a receipt's refusal, or `nil` if it verifies.
    func refusal(_ der: [UInt8]) async -> ReceiptError? {
        do {
            _ = try await verify(der)
            return nil
        } catch {
            return error as? ReceiptError
        }
    }

    // MARK: - The document

    @Test func theThreeFormsReadBackAsWritten() throws {
        let now = ReceiptDocument.parseTimestamp(ReceiptDocument.timestamp(Date()))!
        let token = try Self.token(at: now)
        for claim in [nil, .withoutTimestamp, .cuhk(token: token)] as [ReceiptDocument.TimestampClaim?] {
            let document = try Self.document(committedAt: now, timestamp: claim)
            #expect(try ReceiptDocument(parsing: document.canonicalBytes) == document)
        }
        let older = try Self.document(committedAt: now, timestamp: nil).canonicalText
        let without = try Self.document(committedAt: now, timestamp: .withoutTimestamp).canonicalText
        let with = try Self.document(committedAt: now, timestamp: .cuhk(token: token)).canonicalText
        #expect(without == older + "timestamp: none\n")
        #expect(with == older + "timestamp: cuhk\ntimestamp-token: \(Data(token).base64EncodedString())\n")
        #expect(older.hasSuffix("status: on-time\n"))
    }

    @Test func anyOtherTimestampLineIsRefused() throws {
        let now = Date()
        let older = try Self.document(committedAt: now, timestamp: nil).canonicalText
        let token = Data(try Self.token(at: now)).base64EncodedString()
        for text in [
            older + "timestamp: cuhk\n",  // no token
            older + "timestamp: none\ntimestamp-token: \(token)\n",  // a token with none
            older + "timestamp-token: \(token)\n",  // a token without the line before it
            older + "timestamp: CUHK\ntimestamp-token: \(token)\n",
            older + "timestamp: cuhk\ntimestamp-token: \(token.dropLast(2))\n",  // not canonical base64
            older + "timestamp: cuhk\ntimestamp-token: \(token) \n",
            older + "timestamp: cuhk\ntimestamp-token: \n",  // empty
            older + "timestamp: none\nextra: line\n",
        ] {
            #expect(throws: ReceiptError.self, "\(text.suffix(40))") {
                _ = try ReceiptDocument(parsing: Array(text.utf8))
            }
        }
    }

    @Test func theTimestampedReportIsTheDocumentedText() {
        let report = TimestampedReport(
            studentID: "1155123456", assignment: "a1", report: 7,
            contentSHA256: Array(repeating: 0xab, count: 32))
        #expect(
            report.canonicalText
                == "CampusPKI timestamped report\nversion: 1\nsid: 1155123456\nassignment: a1\nreport: 7\n"
                + "sha256: \(String(repeating: "ab", count: 32))\n")
        #expect(report.imprint.hashedMessage == Array(SHA256.hash(data: report.canonicalBytes)))
        #expect(report.imprint.hashAlgorithm == .sha256)
    }

    /// The vector of docs/PROTOCOL.md section 5.8: the report of section 7's receipt.
    @Test func theDocumentedVectorIsWhatTheCodeHashes() throws {
        let hex = Array("90b9283ae81b01f4e641759471df0b14885f7c23ecc260ee12c176953f480ee0")
        let digest = try stride(from: 0, to: hex.count, by: 2).map {
            try #require(UInt8(String(hex[$0...$0 + 1]), radix: 16))
        }
        let report = TimestampedReport(studentID: "1155123456", assignment: "a1", report: 7, contentSHA256: digest)
        #expect(report.canonicalBytes.count == 154)
        #expect(
            report.imprint.hashedMessage.hexString
                == "f99874670a575ccf34649ad4d3274a6828e6efd8534999e87df0a6482e01e9f4")
    }

    // MARK: - Verification

    @Test func aReceiptWithCUHKsTokenVerifiesAndSaysWhen() async throws {
        let time = Date().addingTimeInterval(-30)
        let verified = try await verify(try Self.receipt(tokenAt: time))
        let timestamp = try #require(verified.timestamp)
        #expect(timestamp.signer == TSA.tsa)
        #expect(timestamp.policy == .cuhk)
        #expect(verified.document.committedAt == ReceiptDocument.parseTimestamp(ReceiptDocument.timestamp(time)))
        #expect(timestamp.generationTime.timeIntervalSince(time).magnitude < 0.001)
    }

    @Test func receiptsWithoutATokenVerifyAsBefore() async throws {
        for claim in [nil, .withoutTimestamp] as [ReceiptDocument.TimestampClaim?] {
            let document = try Self.document(committedAt: Date(), timestamp: claim)
            let der = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
            let verified = try await verify(der)
            #expect(verified.timestamp == nil)
            #expect(verified.document.timestamp == claim)
        }
    }

    @Test func aTokenFromAnotherTimestampAuthorityIsRefused() async throws {
        // A TSA with CUHK's names and profile, certified by another root.
        let otherKey = P256.Signing.PrivateKey()
        let other = try TSA.authority(key: otherKey, issuerKey: PKI.otherRootKey)
        let time = Date().addingTimeInterval(-30)
        let error = await refusal(
            try Self.receipt(tokenAt: time, token: try Self.token(at: time, certificate: other, key: otherKey)))
        guard case .timestamp(let reason) = error else {
            Issue.record("expected a timestamp refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("no valid chain to the trusted root"))
        #expect(error?.description.hasPrefix("the receipt's CUHK timestamp check failed") == true)
    }

    @Test func aTokenOverOtherBytesIsRefused() async throws {
        let time = Date().addingTimeInterval(-30)
        // Another report number: a token Blackboard got for another report, moved into this receipt.
        let other = TimestampedReport(
            studentID: "1155123456", assignment: "a1", report: 8, contentSHA256: Array(SHA256.hash(data: Self.content)))
        let error = await refusal(
            try Self.receipt(tokenAt: time, token: try Self.token(at: time, imprint: other.imprint)))
        guard case .timestamp(let reason) = error else {
            Issue.record("expected a timestamp refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("not over this receipt's report"))
    }

    @Test func anOnTimeClaimWithATokenAfterTheDeadlineIsRefused() async throws {
        // The deadline passed 10 s before CUHK's time; the receipt says on time anyway.
        let time = Date().addingTimeInterval(-60)
        let deadline = ReceiptDocument.parseTimestamp(ReceiptDocument.timestamp(time.addingTimeInterval(-10)))!
        let error = await refusal(try Self.receipt(tokenAt: time, late: false, deadline: deadline))
        guard case .timestamp(let reason) = error else {
            Issue.record("expected a timestamp refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("the receipt says on time, but CUHK timestamped the report at"))
        #expect(reason.contains("after the deadline"))
        // The same report called late verifies.
        let late = try await verify(try Self.receipt(tokenAt: time, late: true, deadline: deadline))
        #expect(late.document.isLate && late.timestamp != nil)
    }

    @Test func aLateClaimWithATokenBeforeTheDeadlineIsRefused() async throws {
        let time = Date().addingTimeInterval(-60)
        let error = await refusal(try Self.receipt(tokenAt: time, late: true))
        guard case .timestamp(let reason) = error else {
            Issue.record("expected a timestamp refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("by CUHK's time it was on time"))
    }

    @Test func aCommitTimeOtherThanCUHKsIsRefused() async throws {
        let time = Date().addingTimeInterval(-60)
        let error = await refusal(try Self.receipt(tokenAt: time, committedAt: time.addingTimeInterval(-5)))
        guard case .timestamp(let reason) = error else {
            Issue.record("expected a timestamp refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("but CUHK timestamped it at"))
    }

    @Test func theDeadlineComparesInWholeSecondsAsReceiptsDo() async throws {
        // CUHK's time is half a second into the deadline's second: the commit time is the deadline, on time.
        let deadline = ReceiptDocument.parseTimestamp(ReceiptDocument.timestamp(Date().addingTimeInterval(-120)))!
        let time = deadline.addingTimeInterval(0.5)
        let verified = try await verify(
            try Self.receipt(tokenAt: time, committedAt: deadline, late: false, deadline: deadline))
        #expect(!verified.document.isLate)
        #expect(verified.document.committedAt == deadline)
    }
}
