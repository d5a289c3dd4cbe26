import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// RFC 3161 messages, tokens and their verification: what CUHK's TSA sends and what a verifier accepts.
@Suite struct TimestampTests {
    typealias PKI = TimestampTestPKI

    static let imprint = MessageImprint(of: PKI.data)

    func verifier(_ time: TimestampVerifier.ValidationTime = .current) -> TimestampVerifier {
        TimestampVerifier(root: PKI.root, validationTime: time)
    }

    func failure(_ body: () async throws -> Void) async -> TimestampError? {
        do {
            try await body()
            return nil
        } catch let error as TimestampError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    // MARK: - Requests

    @Test func aRequestReadsBackAsWritten() throws {
        let request = TimestampRequest(
            messageImprint: Self.imprint, policy: .cuhk, nonce: [0x05, 0x39], certificateRequested: true)
        let read = try TimestampRequest(derEncoded: request.derEncoded())
        #expect(read == request)
        let plain = TimestampRequest(messageImprint: Self.imprint, certificateRequested: false)
        let readPlain = try TimestampRequest(derEncoded: plain.derEncoded())
        #expect(readPlain.nonce == nil && readPlain.policy == nil && !readPlain.certificateRequested)
        // certReq FALSE is the default, which DER leaves out: the request ends with the imprint's digest.
        #expect(plain.derEncoded().suffix(32) == Self.imprint.hashedMessage[...])
    }

    /// A request OpenSSL 3.0 wrote (`openssl ts -query -digest abab… -sha256 -cert`): NULL hash parameters, and a
    /// nonce whose top bit is set, so its INTEGER has a leading zero byte.
    static let opensslRequest: [UInt8] =
        [
            0x30, 0x44, 0x02, 0x01, 0x01, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
        ] + [UInt8](repeating: 0xab, count: 32) + [
            0x02, 0x09, 0x00, 0x87, 0x4d, 0x3b, 0x12, 0xbf, 0xbb, 0x4b, 0xda, 0x01, 0x01, 0xff,
        ]

    @Test func opensslsRequestFormIsRead() throws {
        let request = try TimestampRequest(derEncoded: Self.opensslRequest)
        #expect(request.messageImprint.hashAlgorithm == .sha256)
        #expect(request.messageImprint.hasNullParameters)
        #expect(request.messageImprint.hashedMessage == [UInt8](repeating: 0xab, count: 32))
        #expect(request.nonce == [0x87, 0x4d, 0x3b, 0x12, 0xbf, 0xbb, 0x4b, 0xda])
        #expect(request.certificateRequested)
        // Written back exactly: the NULL parameters are kept, so the token's imprint is the request's.
        #expect(request.derEncoded() == Self.opensslRequest)
    }

    @Test func badRequestsAreRefusedWithTheirReason() throws {
        func refusal(_ bytes: [UInt8]) -> TimestampError? {
            do {
                _ = try TimestampRequest(derEncoded: bytes)
                return nil
            } catch {
                return error
            }
        }
        let good = Self.opensslRequest
        #expect(refusal(good + [0x00]).map { "\($0)" }?.contains("not a DER TimeStampReq") == true)
        var version2 = good
        version2[4] = 0x02
        #expect(refusal(version2).map { "\($0)" }?.contains("version is 2") == true)
        // SHA-1 (1.3.14.3.2.26) in place of SHA-256: badAlg.
        let sha1: [UInt8] =
            [
                0x30, 0x29, 0x02, 0x01, 0x01, 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05,
                0x00,
                0x04, 0x14,
            ] + [UInt8](repeating: 0x01, count: 20) + [0x01, 0x01, 0xff]
        guard case .unsupportedAlgorithm(let reason) = refusal(sha1) else {
            Issue.record("SHA-1 was not refused as an unsupported algorithm")
            return
        }
        #expect(reason.contains("1.3.14.3.2.26"))
        // A SHA-256 imprint of 20 bytes.
        var short = TimestampRequest(messageImprint: Self.imprint).derEncoded()
        short =
            [0x30, 0x2d, 0x02, 0x01, 0x01, 0x30, 0x28] + Array(short[7..<20]) + [0x04, 0x19]
            + [UInt8](repeating: 0, count: 25)
        #expect(refusal(short).map { "\($0)" }?.contains("instead of 32") == true)
        // Extensions: unacceptedExtension.
        var withExtensions = Array(good.dropFirst(2))
        withExtensions += [0xa0, 0x00]
        guard case .unacceptedExtension = refusal([0x30, UInt8(withExtensions.count)] + withExtensions) else {
            Issue.record("extensions were not refused")
            return
        }
        // certReq FALSE written out is not DER.
        let explicitFalse = [0x30, 0x44] + Array(good.dropFirst(2).dropLast(1)) + [0x00]
        #expect(refusal(explicitFalse) != nil)
        // Too long a nonce, and too large a request.
        let longNonce = TimestampRequest(messageImprint: Self.imprint, nonce: [0x01] + [UInt8](repeating: 7, count: 40))
        #expect(refusal(longNonce.derEncoded()).map { "\($0)" }?.contains("nonce has 41 bytes") == true)
        #expect(
            refusal([UInt8](repeating: 0, count: TimestampRequest.maximumSize + 1)).map { "\($0)" }?.contains(
                "more than") == true)
    }

    // MARK: - Replies

    @Test func rejectionsCarryTheirFailureBitAndText() throws {
        for failure in PKIStatusInfo.FailureInfo.allCases {
            let reply = TimestampResponse.rejection(failure, "because")
            let read = try TimestampResponse(derEncoded: reply.derEncoded())
            #expect(read.status.status == .rejection)
            #expect(read.status.failure == failure)
            #expect(read.status.otherFailureBits.isEmpty)
            #expect(read.status.text == ["because"])
            #expect(read.token == nil)
            #expect(throws: TimestampError.rejected(read.status)) { try read.grantedToken() }
        }
        // badDataFormat is bit 5: one byte 0x04 with two unused bits.
        let bits = TimestampResponse.rejection(.badDataFormat, "x").derEncoded().suffix(4)
        #expect(Array(bits) == [0x03, 0x02, 0x02, 0x04])
        // Several bits come back as they were; a bit list with a trailing zero byte is not DER.
        let two = TimestampResponse(
            status: .init(status: .rejection, failure: .badRequest, otherFailureBits: [25, 30]), token: nil)
        let readTwo = try TimestampResponse(derEncoded: two.derEncoded())
        #expect(readTwo == two)
        #expect(readTwo.derEncoded() == two.derEncoded())
        let padded: [UInt8] = [0x30, 0x0a, 0x30, 0x08, 0x02, 0x01, 0x02, 0x03, 0x03, 0x07, 0x80, 0x00]
        #expect(throws: TimestampError.self) { try TimestampResponse(derEncoded: padded) }
        let minimal: [UInt8] = [0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80]
        #expect(try TimestampResponse(derEncoded: minimal).status.failure == .badAlgorithm)
        // Status text that is not UTF-8.
        let badText: [UInt8] = [0x30, 0x0a, 0x30, 0x08, 0x02, 0x01, 0x02, 0x30, 0x03, 0x0c, 0x01, 0xff]
        #expect(throws: TimestampError.self) { try TimestampResponse(derEncoded: badText) }
        // A granted reply without a token is not a reply.
        let empty = TimestampResponse(status: .init(status: .granted), token: nil).derEncoded()
        #expect(throws: TimestampError.self) { try TimestampResponse(derEncoded: empty) }
    }

    // MARK: - Tokens

    @Test func aTokenVerifiesAndStatesItsContents() async throws {
        let time = Date(timeIntervalSince1970: 1_795_827_723.25)
        let token = try PKI.token(for: Self.imprint, at: time)
        let verified = try await verifier().verify(token.derEncoded, data: PKI.data, nonce: [0x01, 0x02, 0x03])
        #expect(verified.generationTime == time)
        #expect(verified.generationTimeText == "2026-11-28T01:02:03.25Z")
        #expect(verified.serialHex == "1122")
        #expect(verified.accuracy == (try TimestampAccuracy(seconds: 1)))
        #expect(verified.policy == .cuhk)
        #expect(verified.policy.description == TimestampPolicy.campusArc + ".1")
        #expect(verified.signer == PKI.tsa)
        #expect(token.certificates == [PKI.tsa])
        // Whole seconds are written without a fraction; milliseconds are kept, finer parts cut.
        let whole = try PKI.token(for: Self.imprint, at: Date(timeIntervalSince1970: 1_795_827_723))
        #expect(whole.info.generationTimeText == "2026-11-28T01:02:03Z")
        let fine = try PKI.token(for: Self.imprint, at: Date(timeIntervalSince1970: 1_795_827_723.1239))
        #expect(fine.info.generationTimeText == "2026-11-28T01:02:03.123Z")
    }

    @Test func aTokenFromAnotherAuthorityIsRefused() async throws {
        let otherKey = P256.Signing.PrivateKey()
        let otherTSA = try PKI.authority(key: otherKey, issuerKey: SignedReceiptTests.PKI.otherRootKey)
        let token = try PKI.token(for: Self.imprint, certificate: otherTSA, key: otherKey)
        let error = await failure { _ = try await verifier().verify(token.derEncoded, data: PKI.data) }
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected an untrusted signer, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("not issued by this root"))
    }

    @Test func aTokenOverOtherBytesIsRefused() async throws {
        let token = try PKI.token(for: Self.imprint)
        let error = await failure { _ = try await verifier().verify(token.derEncoded, data: Array("other".utf8)) }
        guard case .imprintMismatch(let reason) = error else {
            Issue.record("expected an imprint mismatch, got \(String(describing: error))")
            return
        }
        #expect(reason.contains(Self.imprint.hashedMessage.hexString))
        let sha512 = MessageImprint(of: PKI.data, hashAlgorithm: .sha512)
        let otherAlgorithm = await failure { _ = try await verifier().verify(token.derEncoded, imprint: sha512) }
        #expect(otherAlgorithm.map { "\($0)" }?.contains("not a sha512 one") == true)
    }

    @Test func aChangedOrMissingNonceIsRefused() async throws {
        let token = try PKI.token(for: Self.imprint, nonce: [0x01, 0x02, 0x03])
        let changed = await failure {
            _ = try await verifier().verify(token.derEncoded, data: PKI.data, nonce: [0x01, 0x02, 0x04])
        }
        guard case .nonceMismatch(let reason) = changed else {
            Issue.record("expected a nonce mismatch, got \(String(describing: changed))")
            return
        }
        #expect(reason.contains("010203") && reason.contains("010204"))
        let without = try PKI.token(for: Self.imprint, nonce: nil)
        let missing = await failure {
            _ = try await verifier().verify(without.derEncoded, data: PKI.data, nonce: [0x01])
        }
        #expect(missing == .nonceMismatch("the request sent a nonce, but the token has none"))
        // No nonce sent: none checked.
        _ = try await verifier().verify(without.derEncoded, data: PKI.data)
    }

    @Test func aTamperedTokenIsRefused() async throws {
        let token = try PKI.token(for: Self.imprint)
        // A changed genTime inside the signed TSTInfo: its digest is no longer the signed one.
        let changedTime = try #require(token.derEncoded.flippingLastByte(of: Array("20".utf8)))
        let timeError = await failure { _ = try await verifier().verify(changedTime, data: PKI.data) }
        #expect(timeError == .badSignature("the content is not the content that was signed (its SHA-256 differs)"))
        // A changed byte of the signature value (its last byte, before the end of the token).
        var changedSignature = token.derEncoded
        changedSignature[changedSignature.count - 1] ^= 0x01
        let signatureError = await failure { _ = try await verifier().verify(changedSignature, data: PKI.data) }
        guard case .badSignature = signatureError else {
            Issue.record("expected a bad signature, got \(String(describing: signatureError))")
            return
        }
        // Cut short, and with bytes after it.
        #expect(
            await failure { _ = try await verifier().verify(Array(token.derEncoded.dropLast()), data: PKI.data) } != nil
        )
        #expect(await failure { _ = try await verifier().verify(token.derEncoded + [0], data: PKI.data) } != nil)
    }

    @Test func aCertificateSwappedForAnotherWithTheSameKeyBreaksTheBinding() async throws {
        // Same key, same issuer and serial, other validity: the signature still verifies, the ESSCertIDv2 does not.
        let twin = try PKI.authority(notAfter: Date().addingTimeInterval(200 * 86_400))
        let token = try PKI.token(for: Self.imprint, includeCertificate: false)
        let verifierWithTwin = TimestampVerifier(root: PKI.root, additionalCertificates: [twin])
        let error = await failure { _ = try await verifierWithTwin.verify(token.derEncoded, data: PKI.data) }
        guard case .certificateBinding(let reason) = error else {
            Issue.record("expected a broken binding, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("not the hash of the certificate that signed it"))
    }

    @Test func aTokenWithoutItsCertificateNeedsTheCertificateGiven() async throws {
        let token = try PKI.token(for: Self.imprint, includeCertificate: false)
        #expect(token.certificates.isEmpty)
        let error = await failure { _ = try await verifier().verify(token.derEncoded, data: PKI.data) }
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected an untrusted signer, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("does not carry its signer's certificate"))
        let given = TimestampVerifier(root: PKI.root, additionalCertificates: [PKI.tsa])
        _ = try await given.verify(token.derEncoded, data: PKI.data)
    }

    @Test func onlyATimestampAuthoritysCertificateCanSign() async throws {
        let blackboard = try SignedReceiptTests.PKI.service()
        let byBlackboard = try PKI.token(
            for: Self.imprint, certificate: blackboard, key: SignedReceiptTests.PKI.serviceKey)
        let error = await failure { _ = try await verifier().verify(byBlackboard.derEncoded, data: PKI.data) }
        guard case .notATimestampAuthority(let reason) = error else {
            Issue.record("expected not a TSA, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("does not include timeStamping"))

        let notCritical = try PKI.authority(criticalUsage: false)
        let token = try PKI.token(for: Self.imprint, certificate: notCritical)
        #expect(
            await failure { _ = try await verifier().verify(token.derEncoded, data: PKI.data) }.map { "\($0)" }?
                .contains("not marked critical") == true)
        let twoUsages = try PKI.authority(usages: [.timeStamping, .serverAuth])
        let second = try PKI.token(for: Self.imprint, certificate: twoUsages)
        #expect(
            await failure { _ = try await verifier().verify(second.derEncoded, data: PKI.data) }.map { "\($0)" }?
                .contains("purposes besides timeStamping") == true)
    }

    @Test func anExpiredAuthorityVerifiesOnlyAtTheTokensTime() async throws {
        let generated = Date().addingTimeInterval(-20 * 86_400)
        let expired = try PKI.authority(
            notBefore: generated.addingTimeInterval(-86_400), notAfter: generated.addingTimeInterval(86_400))
        let token = try PKI.token(for: Self.imprint, at: generated, certificate: expired)
        let error = await failure { _ = try await verifier().verify(token.derEncoded, data: PKI.data) }
        #expect(error.map { "\($0)" }?.contains("it expired at") == true)
        let atGeneration = try await verifier(.generationTime).verify(token.derEncoded, data: PKI.data)
        #expect(atGeneration.generationTime == TimestampTest.milliseconds(generated))
    }

    @Test func aReplyIsCheckedAgainstItsRequest() async throws {
        let request = TimestampRequest(
            messageImprint: Self.imprint, policy: .cuhk, nonce: TimestampRequest.randomNonce())
        let reply = try await PKI.Authority().reply(to: request.derEncoded())
        let (token, verified) = try await verifier().verify(response: reply, for: request)
        #expect(verified.nonce == request.nonce)
        #expect(try TimestampToken(derEncoded: token).info.messageImprint == Self.imprint)
        let refused = TimestampResponse.rejection(.badAlgorithm, "no").derEncoded()
        let error = await failure { _ = try await verifier().verify(response: refused, for: request) }
        guard case .rejected(let status) = error else {
            Issue.record("expected a rejection, got \(String(describing: error))")
            return
        }
        #expect(status.failure == .badAlgorithm)
    }

    // MARK: - Policy identifiers

    @Test func policyIdentifiersWithLargeArcsReadAndWrite() throws {
        let policy = TimestampPolicy.cuhk
        #expect(policy.description == "2.25.178493196361149240086242339376451507089.1")
        #expect(try TimestampPolicy(dotted: policy.description) == policy)
        // The same identifier through SwiftASN1, for an identifier it can hold.
        let small = try TimestampPolicy(dotted: "1.3.6.1.4.1.4146.2.2")
        var serializer = DER.Serializer()
        try serializer.serialize(ASN1ObjectIdentifier("1.3.6.1.4.1.4146.2.2"))
        #expect(Array(serializer.serializedBytes.dropFirst(2)) == small.contentBytes)
        #expect(small.description == "1.3.6.1.4.1.4146.2.2")
        for bad in ["", "1", "3.1", "1.40", "2.25.x", "2.25.340282366920938463463374607431768211456"] {
            #expect(throws: TimestampError.self) { try TimestampPolicy(dotted: bad) }
        }
    }

    // MARK: - OpenSSL

    @Test(.enabled(if: SignedReceiptTests.openSSL != nil, "skipped: no openssl command"))
    func openSSLVerifiesAToken() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = try PKI.token(for: Self.imprint)
        try PKI.root.serializeAsPEM().pemString.write(
            toFile: directory + "/root.pem", atomically: true, encoding: .utf8)
        try Data(token.derEncoded).write(to: URL(fileURLWithPath: directory + "/token.der"))
        try Data(PKI.data).write(to: URL(fileURLWithPath: directory + "/data"))
        let arguments = [
            "ts", "-verify", "-data", directory + "/data", "-in", directory + "/token.der", "-token_in", "-CAfile",
            directory + "/root.pem",
        ]
        let good = try SignedReceiptTests.runOpenSSL(arguments)
        #expect(good.status == 0, "openssl: \(good.output)")
        #expect(good.output.contains("Verification: OK"))
        try Data(Array("other".utf8)).write(to: URL(fileURLWithPath: directory + "/data"))
        let bad = try SignedReceiptTests.runOpenSSL(arguments)
        #expect(bad.status != 0)
        #expect(bad.output.contains("message imprint mismatch"))
    }
}

enum TimestampTest {
    static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
