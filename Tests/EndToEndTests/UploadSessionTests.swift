import CampusAuthority
import CampusBlackboard
import CampusPKI
import Crypto
import Foundation
import NIOCore
import Testing
import X509
import _CryptoExtras

@testable import CampusStudent

@Suite struct UploadSessionTests {
    @Test func fullFlowStoresTheReportExactlyAsSent() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let contents: [[UInt8]] = ReportSource.seedMessages.map { Array($0.utf8) } + [[0, 1, 2, 255], []]
            let result = try await servers.uploader(window: 3).upload(contents, as: credentials)
            let receipt = result.receipt.document
            #expect(receipt.messageCount == UInt64(contents.count))
            #expect(receipt.totalBytes == UInt64(contents.map(\.count).reduce(0, +)))
            #expect(receipt.contentSHA256 == Array(SHA256.hash(data: contents.flatMap { $0 })))
            #expect(receipt.assignment == "report" && !receipt.isLate)

            let (summary, messages) = try #require(try await servers.blackboard.store.report(Int64(receipt.report)))
            #expect(messages.map(\.content) == contents)
            #expect(messages.map(\.sequence) == Array(1...UInt64(contents.count)))
            #expect(summary.studentID == sid)
            #expect(summary.certificateSerial == credentials.certificate.serialNumber.hex)
            #expect(summary.digest == receipt.contentSHA256)
            #expect(summary.receipt == result.signedReceipt)
            #expect(try await servers.blackboard.store.reports(for: sid).map(\.id) == [Int64(receipt.report)])
        }
    }

    @Test func aFileIsCutIntoMessagesOfTheMaximumSize() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumMessageSize = 1000 }) { servers in
            let credentials = try await servers.enroll(sid)
            let path = SecureFile.join(servers.directory, "report.bin")
            let bytes = (0..<2500).map { UInt8(truncatingIfNeeded: $0 * 7) }
            try SecureFile.write(bytes, to: path, mode: 0o644, replacing: false)
            let receipt = try await servers.uploader().upload(
                try ReportSource.file(path: path, pieceSize: 1000).contents(),
                as: credentials
            ).receipt.document
            #expect(receipt.messageCount == 3 && receipt.totalBytes == 2500)
            let (_, messages) = try #require(try await servers.blackboard.store.report(Int64(receipt.report)))
            #expect(messages.flatMap(\.content) == bytes)
            #expect(messages.map(\.content.count) == [1000, 1000, 500])
        }
    }

    @Test func oneHundredConcurrentStudentsAreNeverConfused() async throws {
        // A hundred handshakes at once each ask CUHK's responder, which here shares the test process's two event
        // loops with the hundred handshakes: on a busy machine an answer can take longer than the production 5 s,
        // and this test is about sessions, not OCSP timeouts. 9 s: swift-certificates ends the whole OCSP check at
        // 10 s whatever the request's own timeout. Soft mode: every certificate is still asked about, and a revoked
        // one would still be refused; one whose answer is late is accepted and logged instead of refused
        // (RevocationTests cover hard mode).
        try await LiveServers.with(configureBlackboard: {
            $0.ocspTimeout = .seconds(9)
            $0.revocation = .soft
        }) { servers in
            let students = (0..<100).map { StudentID(String(1_155_100_000 + $0))! }
            let credentials = try await withThrowingTaskGroup(of: StudentCredentials.self) { group in
                for (index, student) in students.enumerated() {
                    let client = try servers.enrollment(for: student, key: TestKeys.pool[index % TestKeys.pool.count])
                    group.addTask { try await client.enroll(student).0 }
                }
                return try await group.reduce(into: [StudentCredentials]()) { $0.append($1) }
            }
            func contents(of student: StudentID) -> [[UInt8]] {
                (1...4).map { Array("report of \(student), part \($0)".utf8) }
            }
            let uploader = try servers.uploader(window: 2)
            let receipts = try await withThrowingTaskGroup(of: (StudentID, ReceiptDocument).self) { group in
                for credential in credentials {
                    group.addTask {
                        (
                            credential.studentID,
                            try await uploader.upload(contents(of: credential.studentID), as: credential).receipt
                                .document
                        )
                    }
                }
                return try await group.reduce(into: [StudentID: ReceiptDocument]()) { $0[$1.0] = $1.1 }
            }
            #expect(receipts.count == 100)
            let reports = try await servers.blackboard.store.reports(for: nil)
            #expect(reports.count == 100)
            #expect(Set(reports.map(\.studentID)) == Set(students))
            for report in reports {
                let (_, messages) = try #require(try await servers.blackboard.store.report(report.id))
                #expect(messages.map(\.content) == contents(of: report.studentID))
                #expect(messages.map(\.sequence) == [1, 2, 3, 4])
                #expect(receipts[report.studentID]?.report == UInt64(report.id))
                #expect(receipts[report.studentID]?.studentID == report.studentID.rawValue)
            }
        }
    }

    // MARK: Refusals at step 3, while another student's session goes on.

    /// A session that has finished its handshake and sent one message; it finishes after the refusals.
    func withSessionInProgress(
        _ servers: LiveServers,
        _ body: () async throws -> Void
    ) async throws {
        let other = StudentID("1155999999")!
        let credentials = try await servers.enroll(other, key: TestKeys.pool[2])
        let uploader = try servers.uploader()
        let count = try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
            var records = try await uploader.handshake(on: frames, credentials: credentials).records
            try await frames.send(records.seal([1]).0)
            #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
            try await body()
            try await frames.send(records.seal([2]).0)
            #expect(try records.receive(try await frames.receive().message) == .acknowledged(2))
            try await frames.send(records.end())
            guard case .receipt(let signed) = try records.receive(try await frames.receive().message) else {
                return nil as UInt64?
            }
            return try await SignedReceipt.verify(signed, root: try servers.root, blackboardName: "blackboard").document
                .messageCount
        }
        #expect(count == 2)
    }

    func refusal(_ servers: LiveServers, presenting certificate: Certificate, as studentID: StudentID = sid)
        async throws -> CampusError.Code?
    {
        let credentials = try StudentCredentials(
            studentID: studentID,
            privateKey: TestKeys.pool[0],
            certificatePEM: certificate.serializeAsPEM().pemString
        )
        do {
            _ = try await servers.uploader().upload([[1]], as: credentials)
            return nil
        } catch StudentError.refusedByBlackboard(let error) {
            return error.code
        }
    }

    func certificate(
        _ servers: LiveServers,
        signedBy root: RootAuthority? = nil,
        cn: String = "1155123456",
        isCA: Bool = false,
        usages: [ExtendedKeyUsage.Usage] = [.clientAuth]
    ) throws -> Certificate {
        let root = root ?? servers.cuhk.authority.root
        return try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: Certificate.PublicKey(TestKeys.pool[0].publicKey),
            notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(86_400),
            issuer: root.certificate.subject,
            subject: try DistinguishedName { CommonName(cn) },
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage(usages)
            },
            issuerPrivateKey: root.privateKey
        )
    }

    @Test func certificateRefusalsGetTheirCodes() async throws {
        try await LiveServers.with { servers in
            try await withSessionInProgress(servers) { () async throws in
                let csr = try CertificateRequestBuilder.makeRequest(for: sid, key: TestKeys.pool[0])
                let otherCA = CertificateAuthority(
                    root: try RootAuthority.make(), registry: InMemoryAuthorityStore())
                let (_, foreign) = try await otherCA.issue(csrPEM: csr)
                #expect(try await refusal(servers, presenting: foreign) == .untrustedCertificate)

                let (_, expired) = try await servers.cuhk.authority.issue(
                    csrPEM: csr, now: Date().addingTimeInterval(-400 * 86_400))
                #expect(try await refusal(servers, presenting: expired) == .certificateExpired)

                let (_, future) = try await servers.cuhk.authority.issue(
                    csrPEM: csr, now: Date().addingTimeInterval(10 * 86_400))
                #expect(try await refusal(servers, presenting: future) == .certificateNotYetValid)

                #expect(
                    try await refusal(servers, presenting: servers.cuhk.authority.root.certificate)
                        == .notAClientCertificate)
                #expect(
                    try await refusal(servers, presenting: try certificate(servers, isCA: true))
                        == .notAClientCertificate)
                #expect(
                    try await refusal(servers, presenting: try certificate(servers, usages: [.serverAuth]))
                        == .missingClientAuthUsage)

                let (_, good) = try await servers.cuhk.authority.issue(csrPEM: csr)
                #expect(try await refusal(servers, presenting: good, as: StudentID("1155000001")!) == .sidMismatch)
                #expect(try await refusal(servers, presenting: good) == nil)
            }
        }
    }

    @Test func badFramesAndRequestsGetTheirCodes() async throws {
        try await LiveServers.with { servers in
            try await withSessionInProgress(servers) { () async throws in
                let address = servers.blackboardAddress
                #expect(try await RawClient.errorCode(address, sending: Array("garbage!".utf8)) == .frameTooLarge)
                #expect(try await RawClient.errorCode(address, sending: [0x7f, 0, 0, 0]) == .frameTooLarge)
                #expect(
                    try await RawClient.errorCode(address, sending: RawClient.frame([2, 0x10, 0, 0]))
                        == .malformedMessage)
                #expect(
                    try await RawClient.errorCode(address, sending: RawClient.frame([9, 0x10])) == .unsupportedVersion)
                // A version-1 Student's request.
                #expect(
                    try await RawClient.errorCode(address, sending: RawClient.frame([1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]))
                        == .unsupportedVersion)
                let badText = WireMessage.uploadRequest(.sample(text: "SID:1155123456 wants in"))
                #expect(try await RawClient.errorCode(address, sending: RawClient.frame(badText)) == .malformedRequest)
                let badName = WireMessage.uploadRequest(.sample(assignment: "../etc"))
                #expect(try await RawClient.errorCode(address, sending: RawClient.frame(badName)) == .malformedRequest)
                let badPEM = WireMessage.uploadRequest(.sample())
                #expect(
                    try await RawClient.errorCode(address, sending: RawClient.frame(badPEM)) == .malformedCertificate)
            }
        }
    }

    @Test func aWrongKeyConfirmationIsRefused() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let code = try await FramedClient.withConnection(to: servers.blackboardAddress) {
                frames -> CampusError.Code? in
                try await frames.send(.uploadRequest(.sample(certificatePEM: credentials.certificatePEM)))
                guard case .sessionKey = try await frames.receive().message else { return nil }
                guard case .blackboardSignature = try await frames.receive().message else { return nil }
                try await frames.send(.keyConfirmation(mac: Array(repeating: 0x42, count: 32)))
                guard case .error(let error) = try await frames.receive().message else { return nil }
                return error.code
            }
            #expect(code == .keyConfirmationFailed)
        }
    }

    /// Runs a handshake, then `body` with the session's record layer; returns the first error Blackboard sends.
    func sessionError(
        _ servers: LiveServers,
        _ body: (FrameChannel, inout StudentRecordLayer) async throws -> Void
    ) async throws -> CampusError.Code? {
        let credentials = try await servers.enroll(sid)
        return try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
            var records = try await servers.uploader().handshake(on: frames, credentials: credentials).records
            try await body(frames, &records)
            while true {
                switch try await frames.receive().message {
                case .messageAcknowledged: continue
                case .error(let error): return error.code
                default: return nil
                }
            }
        }
    }

    @Test func tamperedReplayedAndReorderedMessagesEndTheSession() async throws {
        try await LiveServers.with { servers in
            try await withSessionInProgress(servers) { () async throws in
                let tampered = try await sessionError(servers) { frames, records in
                    guard case .reportMessage(let sequence, var sealed) = records.seal(Array("pay 10".utf8)).0 else {
                        return
                    }
                    sealed[4] ^= 0x01  // "pay 10" becomes "pay 11" under the encryption; the tag no longer fits
                    try await frames.send(.reportMessage(sequence: sequence, sealed: sealed))
                }
                #expect(tampered == .messageAuthenticationFailed)

                let renumbered = try await sessionError(servers) { frames, records in
                    guard case .reportMessage(_, let sealed) = records.seal([7]).0 else { return }
                    // A sealed message moved to another number: the number is authenticated too.
                    try await frames.send(.reportMessage(sequence: 2, sealed: sealed))
                }
                #expect(renumbered == .messageAuthenticationFailed)

                let replayed = try await sessionError(servers) { frames, records in
                    let message = records.seal([7]).0
                    try await frames.send(message)
                    try await frames.send(message)
                }
                #expect(replayed == .replayedMessage)

                let reordered = try await sessionError(servers) { frames, records in
                    _ = records.seal([1])
                    try await frames.send(records.seal([2]).0)
                }
                #expect(reordered == .outOfOrderMessage)

                let earlyEnd = try await sessionError(servers) { frames, records in
                    for _ in 1...4 { _ = records.seal([0]) }
                    try await frames.send(records.end())
                }
                #expect(earlyEnd == .outOfOrderMessage)
            }
            // None of the refused sessions left a report; the one in progress did.
            let reports = try await servers.blackboard.store.reports(for: nil)
            #expect(reports.map(\.studentID) == [StudentID("1155999999")!])
        }
    }

    @Test func anOversizedMessageIsRefused() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumMessageSize = 100 }) { servers in
            let code = try await sessionError(servers) { frames, records in
                try await frames.send(records.seal([UInt8](repeating: 1, count: 101)).0)
            }
            #expect(code == .messageTooLarge)
        }
    }

    @Test func stalledClientsTimeOut() async throws {
        try await LiveServers.with(configureBlackboard: { $0.handshakeTimeout = .seconds(2) }) { servers in
            let silent = try await RawClient.errorCode(servers.blackboardAddress, sending: [])
            #expect(silent == .timeout)
        }
        // A handshake may take seconds on a busy machine: only the silence after it is timed here.
        try await LiveServers.with(configureBlackboard: { $0.idleTimeout = .seconds(2) }) { servers in
            let idle = try await sessionError(servers) { _, _ in }
            #expect(idle == .timeout)
        }
    }

    @Test func handshakesWaitForTheRootFile() async throws {
        let laterRoot = SecureFile.join(try temporaryDirectory(), "cuhk.cer")
        try await LiveServers.with(configureBlackboard: { $0.rootCertificatePath = laterRoot }) { servers in
            let credentials = try await servers.enroll(sid)
            await #expect {
                _ = try await servers.uploader().upload([[1]], as: credentials)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .rootUnavailable && (error as! StudentError).exitCode == 4
            }
            try SecureFile.write(
                servers.cuhk.authority.root.certificatePEM, to: laterRoot, mode: 0o644, replacing: false)
            let receipt = try await servers.uploader().upload([[1]], as: credentials)
            #expect(receipt.receipt.document.messageCount == 1)

            // When the file changes, the new root is used: now CUHK's certificates no longer verify.
            try SecureFile.write(try RootAuthority.make().certificatePEM, to: laterRoot, mode: 0o644, replacing: true)
            await #expect {
                _ = try await servers.uploader().upload([[1]], as: credentials)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .untrustedCertificate
            }
        }
    }

    @Test func aStorageFailureIsReportedAndNothingIsAcknowledged() async throws {
        let store = FailingReportStore()
        try await LiveServers.with(blackboardStore: store) { servers in
            let credentials = try await servers.enroll(sid)
            let started = ContinuousClock.now
            await #expect {
                _ = try await servers.uploader().upload([[1], [2]], as: credentials)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .storageFailed
            }
            // The refusal arrives without waiting for a timeout (the Student's is 30 s, Blackboard's idle one 60 s).
            #expect(ContinuousClock.now - started < .seconds(25))
            #expect(try await store.reports(for: nil).isEmpty)
        }
    }
}

/// A store whose message writes fail, as a full disk would make them.
final class FailingReportStore: ForwardingReportStore {
    let inner = InMemoryBlackboardStore()

    func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        guard batch.messages.isEmpty else { throw CampusError(.internalError, "disk full") }
        return try await inner.commit(batch)
    }
}

extension UploadRequest {
    /// A request with made-up key share and nonce, for tests that never get past step 3.
    static func sample(
        text: String = "SID:1155123456 requests to upload report !", certificatePEM: String = "x",
        assignment: String = ""
    ) -> UploadRequest {
        UploadRequest(
            requestText: text, certificatePEM: certificatePEM, assignment: assignment,
            keyShare: Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation.map { $0 },
            nonce: Array(repeating: 1, count: 32))
    }
}
