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
            let receipt = try await servers.uploader(window: 3).upload(contents, as: credentials)
            #expect(receipt.messageCount == UInt64(contents.count))
            #expect(receipt.totalBytes == UInt64(contents.map(\.count).reduce(0, +)))
            #expect(receipt.digest == Array(SHA256.hash(data: contents.flatMap { $0 })))

            let (summary, messages) = try #require(try await servers.blackboard.store.report(Int64(receipt.reportID)))
            #expect(messages.map(\.content) == contents)
            #expect(messages.map(\.sequence) == Array(1...UInt64(contents.count)))
            #expect(summary.studentID == sid)
            #expect(summary.certificateSerial == credentials.certificate.serialNumber.hex)
            #expect(summary.digest == receipt.digest)
            #expect(try await servers.blackboard.store.reports(for: sid).map(\.id) == [Int64(receipt.reportID)])
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
            )
            #expect(receipt.messageCount == 3 && receipt.totalBytes == 2500)
            let (_, messages) = try #require(try await servers.blackboard.store.report(Int64(receipt.reportID)))
            #expect(messages.flatMap(\.content) == bytes)
            #expect(messages.map(\.content.count) == [1000, 1000, 500])
        }
    }

    @Test func oneHundredConcurrentStudentsAreNeverConfused() async throws {
        try await LiveServers.with { servers in
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
            let uploader = servers.uploader(window: 2)
            let receipts = try await withThrowingTaskGroup(of: (StudentID, ReportReceipt).self) { group in
                for credential in credentials {
                    group.addTask {
                        (
                            credential.studentID,
                            try await uploader.upload(contents(of: credential.studentID), as: credential)
                        )
                    }
                }
                return try await group.reduce(into: [StudentID: ReportReceipt]()) { $0[$1.0] = $1.1 }
            }
            #expect(receipts.count == 100)
            let reports = try await servers.blackboard.store.reports(for: nil)
            #expect(reports.count == 100)
            #expect(Set(reports.map(\.studentID)) == Set(students))
            for report in reports {
                let (_, messages) = try #require(try await servers.blackboard.store.report(report.id))
                #expect(messages.map(\.content) == contents(of: report.studentID))
                #expect(messages.map(\.sequence) == [1, 2, 3, 4])
                #expect(receipts[report.studentID]?.reportID == UInt64(report.id))
            }
        }
    }

    @Test func theSessionKeyNeverTravelsFromTheStudent() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let relay = RecordingRelay(target: servers.blackboardAddress)
            let receipt = try await relay.run { address in
                try await UploadClient(configuration: .init(blackboard: address)).upload(
                    [Array("secret-free".utf8)],
                    as: credentials
                )
            }
            #expect(receipt.messageCount == 1)
            let fromServer = try RawClient.messages(in: relay.sentByServer)
            guard case .sessionKey(let sessionID, let encryptedKey) = fromServer.first else {
                Issue.record("the first answer is not the session key")
                return
            }
            let sessionKey = try credentials.decryptionKey.decrypt(encryptedKey, padding: .PKCS1_OAEP_SHA256)
            let keys = SessionKeys(sessionKey: SymmetricKey(data: sessionKey), sessionID: sessionID)
            let sent = relay.sentByClient
            #expect(sent.containsRun(Array("SID:1155123456 requests to upload report !".utf8)))  // the relay saw it all
            #expect(sessionKey.count == 32)
            #expect(!sent.containsRun(Array(sessionKey)))
            #expect(!sent.containsRun(keys.confirmationKey.withUnsafeBytes { Array($0) }))
            #expect(!sent.containsRun(keys.messageKey.withUnsafeBytes { Array($0) }))
            #expect(!sent.containsRun(Array(sessionKey.base64EncodedString().utf8)))
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
        let uploader = servers.uploader()
        let receipt = try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
            let authenticator = try await uploader.handshake(on: frames, credentials: credentials)
            try await frames.send(
                .reportMessage(sequence: 1, content: [1], mac: authenticator.messageMAC(sequence: 1, content: [1]))
            )
            #expect(try await frames.receive().message == .messageAcknowledged(sequence: 1))
            try await body()
            try await frames.send(
                .reportMessage(sequence: 2, content: [2], mac: authenticator.messageMAC(sequence: 2, content: [2]))
            )
            #expect(try await frames.receive().message == .messageAcknowledged(sequence: 2))
            try await frames.send(.endOfReport(sequence: 3, mac: authenticator.endMAC(sequence: 3)))
            guard case .receipt(let receipt) = try await frames.receive().message else { return nil as ReportReceipt? }
            return receipt
        }
        #expect(receipt?.messageCount == 2)
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
                    root: try RootAuthority.make(), registry: InMemoryCertificateRegistry())
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
                    try await RawClient.errorCode(address, sending: RawClient.frame([1, 0x10, 0, 0]))
                        == .malformedMessage)
                #expect(
                    try await RawClient.errorCode(address, sending: RawClient.frame([9, 0x10])) == .unsupportedVersion)
                let badText = WireMessage.uploadRequest(requestText: "SID:1155123456 wants in", certificatePEM: "x")
                #expect(try await RawClient.errorCode(address, sending: RawClient.frame(badText)) == .malformedRequest)
                let badPEM = WireMessage.uploadRequest(
                    requestText: "SID:1155123456 requests to upload report !", certificatePEM: "x")
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
                try await frames.send(
                    .uploadRequest(
                        requestText: "SID:\(sid) requests to upload report !",
                        certificatePEM: credentials.certificatePEM)
                )
                guard case .sessionKey = try await frames.receive().message else { return nil }
                try await frames.send(.keyConfirmation(mac: Array(repeating: 0x42, count: 32)))
                guard case .error(let error) = try await frames.receive().message else { return nil }
                return error.code
            }
            #expect(code == .keyConfirmationFailed)
        }
    }

    /// Runs a handshake, then `body` with the session's authenticator; returns the first error Blackboard sends.
    func sessionError(
        _ servers: LiveServers,
        _ body: (FrameChannel, SessionAuthenticator) async throws -> Void
    ) async throws -> CampusError.Code? {
        let credentials = try await servers.enroll(sid)
        return try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
            let authenticator = try await servers.uploader().handshake(on: frames, credentials: credentials)
            try await body(frames, authenticator)
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
                let tampered = try await sessionError(servers) { frames, authenticator in
                    let mac = authenticator.messageMAC(sequence: 1, content: Array("pay 10".utf8))
                    try await frames.send(.reportMessage(sequence: 1, content: Array("pay 99".utf8), mac: mac))
                }
                #expect(tampered == .messageAuthenticationFailed)

                let replayed = try await sessionError(servers) { frames, authenticator in
                    let message = WireMessage.reportMessage(
                        sequence: 1, content: [7], mac: authenticator.messageMAC(sequence: 1, content: [7]))
                    try await frames.send(message)
                    try await frames.send(message)
                }
                #expect(replayed == .replayedMessage)

                let reordered = try await sessionError(servers) { frames, authenticator in
                    try await frames.send(
                        .reportMessage(
                            sequence: 2, content: [2], mac: authenticator.messageMAC(sequence: 2, content: [2])))
                }
                #expect(reordered == .outOfOrderMessage)

                let earlyEnd = try await sessionError(servers) { frames, authenticator in
                    try await frames.send(.endOfReport(sequence: 5, mac: authenticator.endMAC(sequence: 5)))
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
            let code = try await sessionError(servers) { frames, authenticator in
                let content = [UInt8](repeating: 1, count: 101)
                try await frames.send(
                    .reportMessage(
                        sequence: 1, content: content, mac: authenticator.messageMAC(sequence: 1, content: content)))
            }
            #expect(code == .messageTooLarge)
        }
    }

    @Test func stalledClientsTimeOut() async throws {
        try await LiveServers.with(configureBlackboard: {
            $0.handshakeTimeout = .seconds(2)
            $0.idleTimeout = .seconds(2)
        }) { servers in
            #expect(try await RawClient.errorCode(servers.blackboardAddress, sending: []) == .timeout)
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
            #expect(receipt.messageCount == 1)

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
            // The refusal arrives at once, not after a timeout.
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await store.reports(for: nil).isEmpty)
        }
    }
}

/// A store whose message writes fail, as a full disk would make them.
final class FailingReportStore: ReportStore {
    let inner = InMemoryReportStore()

    func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        guard batch.messages.isEmpty else { throw CampusError(.internalError, "disk full") }
        return try await inner.commit(batch)
    }

    func failSession(_ session: Int64, reason: String) async throws {
        try await inner.failSession(session, reason: reason)
    }

    func reports(for studentID: StudentID?) async throws -> [ReportSummary] { try await inner.reports(for: studentID) }

    func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? { try await inner.report(id) }
}
