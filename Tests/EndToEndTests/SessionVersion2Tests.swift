import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusSQLite
import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import X509
import _CryptoExtras

@testable import CampusStudent

/// Session version 2 over real connections: who Blackboard is, what crosses the wire, deadlines, backpressure.
@Suite struct SessionVersion2Tests {
    // MARK: An impostor Blackboard

    /// A server that answers step 3 like Blackboard, with `credentials`, and records what arrives after step 4.
    final class Impostor: Sendable {
        /// What the Student sent after step 4.
        final class Received: Sendable {
            let kinds = Mutex<[WireMessage.Kind]>([])
        }

        let server: FramedServer
        private let received = Received()

        init(credentials: BlackboardHandshake.Credentials) {
            let received = self.received
            server = FramedServer(
                configuration: .init(host: "127.0.0.1", port: 0, maximumFrameSize: 1 << 20, timeout: .seconds(10)),
                firstExpected: "the handshake", logger: LiveServers.quiet
            ) { frames, _ in
                var machine = BlackboardHandshake()
                let (request, _) = try machine.receiveRequest(try await frames.receivePayload())
                let studentCertificate = try Certificate(pemEncoded: request.request.certificatePEM)
                let offer = try machine.offer(
                    to: studentCertificate, assignment: "report", deadline: "", credentials: credentials)
                try await frames.writer.send(contentsOf: offer.messages)
                while true {
                    let message = try await frames.receive().message
                    received.kinds.withLock { $0.append(message.kind) }
                }
            }
        }

        var kindsReceived: [WireMessage.Kind] { received.kinds.withLock { $0 } }
    }

    /// Runs an upload against an impostor; returns the Student's error and what the impostor received.
    func uploadToImpostor(
        _ servers: LiveServers, credentials impostor: BlackboardHandshake.Credentials, name: String = "blackboard"
    ) async throws -> (StudentError?, [WireMessage.Kind]) {
        let student = try await servers.enroll(sid)
        let fake = Impostor(credentials: impostor)
        return try await withThrowingTaskGroup(of: (StudentError?, [WireMessage.Kind])?.self) { group in
            group.addTask {
                try await fake.server.run()
                return nil
            }
            defer { group.cancelAll() }
            let address = ServerAddress(try await fake.server.listeningAddress())
            let client = UploadClient(
                configuration: .init(blackboard: address, root: try servers.root, blackboardName: name))
            var error: StudentError?
            do {
                _ = try await client.upload([Array("the secret report".utf8)], as: student)
            } catch let failure as StudentError {
                error = failure
            }
            try await Task.sleep(for: .milliseconds(200))
            return (error, fake.kindsReceived)
        }
    }

    func check(_ error: StudentError?) -> BlackboardAuthenticationError.Check? {
        if case .blackboardNotAuthenticated(let failure) = error { return failure.check }
        return nil
    }

    @Test func anImpostorBlackboardIsRefusedBeforeAnyReportByteIsSent() async throws {
        try await LiveServers.with { servers in
            let realCertificate = try Certificate(
                pemEncoded: try SecureFile.readText(at: SecureFile.join(servers.cuhkDirectory, "blackboard.cer")) ?? "")
            let realKey = try P256.Signing.PrivateKey(
                pemRepresentation: try SecureFile.readText(at: SecureFile.join(servers.cuhkDirectory, "blackboard.key"))
                    ?? "")
            // A certificate from another CA, with the same names.
            let otherCA = try RootAuthority.make()
            let foreignKey = P256.Signing.PrivateKey()
            let foreign = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(foreignKey.publicKey),
                notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(86_400),
                issuer: otherCA.certificate.subject, subject: realCertificate.subject,
                signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: realCertificate.extensions, issuerPrivateKey: otherCA.privateKey)
            // An expired certificate from CUHK itself.
            let expiredKey = P256.Signing.PrivateKey()
            let expired = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(expiredKey.publicKey),
                notValidBefore: Date().addingTimeInterval(-10 * 86_400), notValidAfter: Date().addingTimeInterval(-60),
                issuer: servers.cuhk.authority.root.certificate.subject, subject: realCertificate.subject,
                signatureAlgorithm: .sha256WithRSAEncryption, extensions: realCertificate.extensions,
                issuerPrivateKey: servers.cuhk.authority.root.privateKey)
            // A student's certificate presented as Blackboard's.
            let studentCertificate = try await servers.enroll(StudentID("1155000777")!, key: TestKeys.pool[3])
                .certificate
            let cases: [(BlackboardHandshake.Credentials, String, BlackboardAuthenticationError.Check)] = [
                (try .init(certificate: foreign, privateKey: foreignKey), "blackboard", .issuer),
                (
                    try .init(certificate: studentCertificate, privateKey: P256.Signing.PrivateKey()), "blackboard",
                    .serverAuth
                ),
                (try .init(certificate: realCertificate, privateKey: realKey), "blackboard.example.edu", .name),
                (
                    try .init(certificate: realCertificate, privateKey: P256.Signing.PrivateKey()), "blackboard",
                    .signature
                ),
                (try .init(certificate: expired, privateKey: expiredKey), "blackboard", .validity),
            ]
            for (credentials, name, expected) in cases {
                let (error, received) = try await uploadToImpostor(servers, credentials: credentials, name: name)
                #expect(check(error) == expected, "\(String(describing: error))")
                #expect(error?.exitCode == 7)
                #expect(received.isEmpty, "the Student sent \(received) to an impostor failing \(expected)")
            }
            // The same fake with Blackboard's real certificate and key is believed: the refusals above come from
            // the checks, not from the fake.
            let (error, received) = try await uploadToImpostor(
                servers, credentials: try .init(certificate: realCertificate, privateKey: realKey))
            #expect(error != nil)
            #expect(received.first == .keyConfirmation)
        }
    }

    // MARK: What crosses the wire

    @Test func noPlaintextOrKeyCrossesTheWireAndTheRecordingStaysSealed() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let report = Array("My report: the secret finding is 42.".utf8)
            let relay = RecordingRelay(target: servers.blackboardAddress)
            let result = try await relay.run { address in
                try await UploadClient(configuration: .init(blackboard: address, root: try servers.root)).upload(
                    [report], as: credentials)
            }
            #expect(result.receipt.document.messageCount == 1)
            let sent = relay.sentByClient
            let answered = relay.sentByServer
            #expect(sent.containsRun(Array("SID:1155123456 requests to upload report !".utf8)))  // the relay saw it all
            #expect(!sent.containsRun(report) && !answered.containsRun(report))
            #expect(!sent.containsRun(Array("secret finding".utf8)))

            // The recording, and the student's RSA key: the transported secret can be read...
            let fromServer = try RawClient.messages(in: answered)
            let fromStudent = try RawClient.messages(in: sent)
            guard case .sessionKey(let offer) = fromServer.first, case .uploadRequest(let request) = fromStudent.first
            else {
                Issue.record("the recording does not start with the handshake")
                return
            }
            let secret = try #require(
                SessionKeyTransport.decrypt(offer.encryptedSecret, with: credentials.decryptionKey))
            #expect(secret.count == 32)
            #expect(!sent.containsRun(secret) && !answered.containsRun(secret))
            // ...but not the keys: they need the X25519 shared secret, which neither the recording nor any
            // long-term key gives. Every secret an eavesdropper could try in its place fails to open the message.
            var transcript = HandshakeTranscript()
            for message in [fromStudent[0], fromServer[0], fromServer[1]] { transcript.append(message.encoded()) }
            guard
                case .reportMessage(let sequence, let sealed) = fromStudent.first(where: { $0.kind == .reportMessage })
            else {
                Issue.record("no report message in the recording")
                return
            }
            let guesses: [[UInt8]] = [
                Array(repeating: 0, count: 32), request.keyShare, offer.keyShare, secret,
                Array(SHA256.hash(data: request.keyShare + offer.keyShare)),
            ]
            for guess in guesses {
                let schedule = SessionKeySchedule(
                    transportedSecret: secret, sharedSecret: guess, transcriptDigest: transcript.digest)
                let opener = RecordProtection(key: schedule.studentMessageKey, direction: .studentToBlackboard)
                #expect(opener.open(sealed, kind: .reportMessage, sequence: sequence) == nil)
                #expect(!sent.containsRun(schedule.studentMessageKey.withUnsafeBytes { Array($0) }))
            }
            // The ChaCha20-Poly1305 record is as long as the report plus its tag, and nothing of it is the report.
            #expect(sealed.count == report.count + 16)
        }
    }

    // MARK: Assignments and deadlines

    @Test func aLateSubmissionIsRefusedOrMarkedLatePerTheAssignment() async throws {
        try await LiveServers.with { servers in
            let store = try #require(servers.blackboard.store as? SQLiteBlackboardStore)
            let past = Date().addingTimeInterval(-3600)
            try await store.addAssignment(Assignment(name: "lenient", deadline: past, late: .accept))
            try await store.addAssignment(Assignment(name: "strict", deadline: past, late: .refuse))
            try await store.addAssignment(Assignment(name: "future", deadline: Date().addingTimeInterval(3600)))
            let credentials = try await servers.enroll(sid)
            let receipts = SecureFile.join(servers.directory, "receipts")

            let late = try await servers.uploader(assignment: "lenient", receipts: receipts).upload(
                [[1]], as: credentials)
            #expect(late.receipt.document.isLate && late.receipt.document.assignment == "lenient")
            #expect(late.path?.hasSuffix("receipts/lenient-\(late.receipt.document.report).p7s") == true)

            let onTime = try await servers.uploader(assignment: "future").upload([[2]], as: credentials)
            #expect(!onTime.receipt.document.isLate)
            #expect(onTime.receipt.document.deadline != nil)
            // A resubmission is kept too; the latest counts.
            let again = try await servers.uploader(assignment: "future").upload([[3]], as: credentials)
            #expect(again.receipt.document.report > onTime.receipt.document.report)

            func refusal(_ assignment: String) async -> CampusError.Code? {
                do {
                    _ = try await servers.uploader(assignment: assignment).upload([[4]], as: credentials)
                    return nil
                } catch StudentError.refusedByBlackboard(let error) {
                    return error.code
                } catch {
                    return .internalError
                }
            }
            #expect(await refusal("strict") == .deadlinePassed)
            #expect(await refusal("nonexistent") == .unknownAssignment)
            // Several open (report, lenient, future): the Student must name one.
            #expect(await refusal("") == .assignmentRequired)
            #expect(try await store.closeAssignment(named: "future"))
            #expect(await refusal("future") == .assignmentClosed)

            let reports = try await store.reports(for: sid)
            #expect(reports.map(\.assignment) == ["lenient", "future", "future"])
            #expect(reports.map(\.isLate) == [true, false, false])
        }
    }

    // MARK: Backpressure

    /// A store whose every commit takes 50 ms, as a slow disk would; counts what it committed.
    final class SlowStore: ForwardingReportStore {
        let inner = InMemoryBlackboardStore()
        let committed = Atomic<Int>(0)

        func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
            try await Task.sleep(for: .milliseconds(50))
            let stored = try await inner.commit(batch)
            committed.add(batch.messages.count, ordering: .sequentiallyConsistent)
            return stored
        }
    }

    /// What the backpressure test observes.
    final class Observed: Sendable {
        let verified = Atomic<Int>(0)
        let worst = Atomic<Int>(0)
        let sentAll = Atomic<Bool>(false)
    }

    /// Small messages meet the bound on their number, large ones the bound on their bytes.
    @Test(arguments: [
        (size: 4096, bound: ReportWindow.size),
        (size: 512 * 1024, bound: ReportWindow.pendingBytes / (512 * 1024)),
    ])
    func aStudentThatNeverReadsIsHeldBackByABoundedWindow(size: Int, bound: Int) async throws {
        let store = SlowStore()
        let observed = Observed()
        // Every time Blackboard verifies a message, at most the window's worth may be waiting for a commit.
        let reporter: StepReporter = { _, line in
            guard line.hasPrefix("receive from") else { return }
            let count = observed.verified.add(1, ordering: .sequentiallyConsistent).newValue
            let pending = count - store.committed.load(ordering: .sequentiallyConsistent)
            _ = observed.worst.max(pending, ordering: .sequentiallyConsistent)
        }
        try await LiveServers.with(blackboardStore: store, blackboardReporter: reporter) { servers in
            let credentials = try await servers.enroll(sid)
            // Far more than 2 s allow at one commit of at most the window per 50 ms (bound × 40 messages).
            let total = 100 * bound
            try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
                let records = try await servers.uploader().handshake(on: frames, credentials: credentials).records
                let writer = frames.writer
                let content = [UInt8](repeating: 0x61, count: size)
                let sender = Task {
                    // Sends as fast as the connection takes it and never reads an acknowledgement.
                    var records = records
                    for _ in 0..<total {
                        try await writer.send(records.seal(content).0)
                    }
                    observed.sentAll.store(true, ordering: .sequentiallyConsistent)
                }
                // On a busy machine the first message may take a while to arrive: the two seconds start with it.
                let started = ContinuousClock.now
                while observed.verified.load(ordering: .sequentiallyConsistent) == 0 {
                    guard ContinuousClock.now - started < .seconds(120) else {
                        Issue.record("no message of \(size) bytes was verified in 120 s")
                        break
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await Task.sleep(for: .seconds(2))
                sender.cancel()
            }
            let finished = observed.sentAll.load(ordering: .sequentiallyConsistent)
            let verifiedCount = observed.verified.load(ordering: .sequentiallyConsistent)
            let waiting = observed.worst.load(ordering: .sequentiallyConsistent)
            #expect(!finished)
            #expect(verifiedCount < total)
            // The window's worth in the queue, and the one the reading task holds while it waits for room.
            #expect(waiting <= bound + 1, "up to \(waiting) verified messages of \(size) bytes waited for a commit")
            #expect(waiting >= 1)
        }
    }
}

/// Whether an assignment takes a submission is decided when the report is committed, not at the handshake.
@Suite struct AssignmentAtCommitTests {
    @Test func aSessionOpenedBeforeTheAssignmentClosesCannotFileIntoIt() async throws {
        try await LiveServers.with { servers in
            let store = servers.blackboard.store
            try await store.addAssignment(Assignment(name: "a1", deadline: Date().addingTimeInterval(3600)))
            let credentials = try await servers.enroll(sid)
            let uploader = try servers.uploader(assignment: "a1")
            let answer = try await FramedClient.withConnection(to: servers.blackboardAddress) {
                frames -> WireMessage in
                var records = try await uploader.handshake(on: frames, credentials: credentials).records
                try await frames.send(records.seal(Array("written before the close".utf8)).0)
                #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
                // The instructor closes the assignment while the session is open.
                #expect(try await store.closeAssignment(named: "a1"))
                try await frames.send(records.end())
                return try await frames.receive().message
            }
            guard case .error(let error) = answer else {
                Issue.record("Blackboard answered \(answer.kind.phrase) instead of refusing")
                return
            }
            #expect(error.code == .assignmentClosed)
            #expect(try await store.reports(for: nil).isEmpty)
        }
    }
}
