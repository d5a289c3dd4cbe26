import CampusPKI
import Crypto
import Foundation
import NIOCore
import Testing
import X509
import _CryptoExtras

/// Both sides' session state machines driven against each other in memory: no sockets, no clocks, every branch.
@Suite struct SessionStateMachineTests {
    typealias PKI = SignedReceiptTests.PKI

    static let studentID = StudentID("1155123456")!

    static func blackboardCredentials(
        certificate: Certificate? = nil, key: P256.Signing.PrivateKey = PKI.serviceKey
    ) throws -> BlackboardHandshake.Credentials {
        try BlackboardHandshake.Credentials(certificate: certificate ?? (try PKI.service()), privateKey: key)
    }

    static func student(
        name: String = "blackboard", root: Certificate = PKI.root, now: Date = Date()
    ) throws -> StudentHandshake {
        try StudentHandshake(
            studentID: studentID,
            certificate: try PKI.student(),
            decryptionKey: try _RSA.Encryption.PrivateKey(derRepresentation: PKI.studentKey.derRepresentation),
            assignment: "a1",
            verifier: BlackboardCertificateVerifier(root: root, expectedName: name),
            now: { now }
        )
    }

    static func payload(_ message: WireMessage) -> ByteBuffer { message.encoded() }

    /// Runs steps 3–5; `alter` may change each message Blackboard sends before the Student reads it.
    static func handshake(
        student: inout StudentHandshake, blackboard: inout BlackboardHandshake,
        credentials: BlackboardHandshake.Credentials? = nil,
        alter: (WireMessage) -> WireMessage = { $0 }
    ) async throws -> (StudentHandshake.Established, BlackboardHandshake.Established) {
        let credentials = try credentials ?? Self.blackboardCredentials()
        let request = student.start()
        #expect(request.messages.count == 1)
        let (parsed, _) = try blackboard.receiveRequest(payload(request.messages[0]))
        #expect(parsed.studentID == studentID && parsed.request.assignment == "a1")
        let offer = try blackboard.offer(
            to: try PKI.student(), assignment: "a1", deadline: "", credentials: credentials)
        #expect(offer.messages.map(\.kind) == [.sessionKey, .blackboardSignature])
        var confirmation: [WireMessage] = []
        for message in offer.messages {
            confirmation += try await student.receive(payload(alter(message))).messages
        }
        #expect(confirmation.map(\.kind) == [.keyConfirmation])
        let secure = try blackboard.receiveConfirmation(payload(confirmation[0]))
        let blackboardSide = try #require(secure.established)
        let done = try await student.receive(payload(alter(secure.messages[0])))
        return (try #require(done.established), blackboardSide)
    }

    @Test func bothSidesAgreeAndTheRecordsInteroperate() async throws {
        var student = try Self.student()
        var blackboard = BlackboardHandshake()
        let (studentSide, blackboardSide) = try await Self.handshake(student: &student, blackboard: &blackboard)
        #expect(studentSide.sessionID == blackboardSide.sessionID)
        #expect(studentSide.assignment == "a1" && blackboardSide.studentID == Self.studentID)

        var sending = studentSide.records
        var receiving = blackboardSide.records
        let (first, event) = sending.seal(Array("This is No.1 Message.".utf8))
        guard case .messageSent(1, let content, let sealed) = event else {
            Issue.record("no event for the message")
            return
        }
        #expect(content == Array("This is No.1 Message.".utf8))
        #expect(sealed.count == content.count + 16)
        // The content travels encrypted.
        #expect(!Array(first.encoded().readableBytesView).containsRun(content))
        #expect(
            try receiving.open(first, maximumMessageSize: 100)
                == .message(sequence: 1, content: content, sealed: sealed))
        #expect(try receiving.open(.keepAlive, maximumMessageSize: 100) == .keepAlive)
        #expect(try sending.receive(receiving.outgoing.acknowledgement(1)) == .acknowledged(1))
        let file = try SubmittedFile(name: "notes.txt", contentType: "text/plain")
        let end = sending.end(file: file)
        // The file's name travels encrypted too.
        #expect(!Array(end.encoded().readableBytesView).containsRun(Array("notes.txt".utf8)))
        #expect(try receiving.open(end, maximumMessageSize: 100) == .end(messageCount: 1, file: file))
        #expect(try sending.receive(receiving.outgoing.receipt([1, 2, 3], messageCount: 1)) == .receipt([1, 2, 3]))
    }

    /// What the Student says when Blackboard's side is built with `credentials` (and the Student expects `name`).
    static func studentFailure(
        _ credentials: BlackboardHandshake.Credentials, name: String = "blackboard", now: Date = Date()
    ) async throws -> StudentHandshake.Failure? {
        var student = try Self.student(name: name, now: now)
        var blackboard = BlackboardHandshake()
        do {
            _ = try await Self.handshake(student: &student, blackboard: &blackboard, credentials: credentials)
            return nil
        } catch let failure as StudentHandshake.Failure {
            return failure
        }
    }

    static func failedCheck(_ failure: StudentHandshake.Failure?) -> BlackboardAuthenticationError.Check? {
        if case .notAuthenticated(let error) = failure { return error.check }
        return nil
    }

    @Test func anImpostorFailsTheNamedCheckBeforeTheStudentSendsAnything() async throws {
        let otherCA = try PKI.service(issuerKey: PKI.otherRootKey)
        #expect(
            Self.failedCheck(try await Self.studentFailure(try Self.blackboardCredentials(certificate: otherCA)))
                == .issuer)
        // A student's certificate (RSA, clientAuth) presented as Blackboard's.
        #expect(
            Self.failedCheck(
                try await Self.studentFailure(try Self.blackboardCredentials(certificate: try PKI.student())))
                == .serverAuth)
        #expect(
            Self.failedCheck(try await Self.studentFailure(try Self.blackboardCredentials(), name: "other")) == .name)
        let expired = try PKI.service(
            notBefore: Date().addingTimeInterval(-10 * 86_400), notAfter: Date().addingTimeInterval(-86_400))
        #expect(
            Self.failedCheck(try await Self.studentFailure(try Self.blackboardCredentials(certificate: expired)))
                == .validity)
        #expect(
            Self.failedCheck(
                try await Self.studentFailure(
                    try Self.blackboardCredentials(), now: Date().addingTimeInterval(400 * 86_400)))
                == .validity)
        // Blackboard's real certificate, but a key that is not its own: the signature fails.
        #expect(
            Self.failedCheck(
                try await Self.studentFailure(try Self.blackboardCredentials(key: P256.Signing.PrivateKey())))
                == .signature)
        #expect(try await Self.studentFailure(try Self.blackboardCredentials()) == nil)
    }

    @Test func anyChangeToTheHandshakeIsDetected() async throws {
        func failure(_ alter: @escaping (WireMessage) -> WireMessage) async throws -> StudentHandshake.Failure? {
            var student = try Self.student()
            var blackboard = BlackboardHandshake()
            do {
                _ = try await Self.handshake(student: &student, blackboard: &blackboard, alter: alter)
                return nil
            } catch let failure as StudentHandshake.Failure {
                return failure
            }
        }
        // Another deadline in step 4: the signature covers the offer.
        let deadline = try await failure { message in
            guard case .sessionKey(var offer) = message else { return message }
            offer.deadline = "2030-01-01T00:00:00Z"
            return .sessionKey(offer)
        }
        #expect(Self.failedCheck(deadline) == .signature)
        // Another key share: the signature covers it too.
        let share = try await failure { message in
            guard case .sessionKey(var offer) = message else { return message }
            offer.keyShare = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)
            return .sessionKey(offer)
        }
        #expect(Self.failedCheck(share) == .signature)
        let confirmation = try await failure { message in
            guard case .sessionSecure(var mac) = message else { return message }
            mac[0] ^= 1
            return .sessionSecure(mac: mac)
        }
        #expect(Self.failedCheck(confirmation) == .confirmation)
        let refused = try await failure { message in
            guard case .sessionKey = message else { return message }
            return .error(CampusError(.deadlinePassed, "too late"))
        }
        guard case .refused(let error) = refused else {
            Issue.record("an error frame is a refusal")
            return
        }
        #expect(error.code == .deadlinePassed)
        let unexpected = try await failure { message in
            guard case .sessionKey = message else { return message }
            return .keepAlive
        }
        guard case .invalidResponse = unexpected else {
            Issue.record("a keep-alive in step 4 is an invalid response")
            return
        }
    }

    @Test func blackboardRefusesABadRequestAndABadConfirmation() async throws {
        func requestError(_ message: WireMessage) -> CampusError.Code? {
            var blackboard = BlackboardHandshake()
            do {
                _ = try blackboard.receiveRequest(Self.payload(message))
                return nil
            } catch {
                return error.code
            }
        }
        var request = UploadRequest(
            requestText: "SID:1155123456 requests to upload report !", certificatePEM: "x", assignment: "",
            keyShare: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation),
            nonce: Array(repeating: 0, count: 32))
        #expect(requestError(.uploadRequest(request)) == nil)
        #expect(
            requestError(
                .enrollmentHello(
                    EnrollmentHello(keyShare: Array(repeating: 9, count: 32), nonce: Array(repeating: 0, count: 32))))
                == .unexpectedMessage)
        request.assignment = "a b"
        #expect(requestError(.uploadRequest(request)) == .malformedRequest)
        request.assignment = ""
        request.requestText = "SID:1155123456 wants in"
        #expect(requestError(.uploadRequest(request)) == .malformedRequest)

        // A low-order X25519 share (all zeros) cannot make a shared secret.
        var blackboard = BlackboardHandshake()
        var student = try Self.student()
        guard case .uploadRequest(var good) = student.start().messages[0] else { return }
        good.keyShare = Array(repeating: 0, count: 32)
        _ = try blackboard.receiveRequest(Self.payload(.uploadRequest(good)))
        #expect(throws: CampusError.self) {
            try blackboard.offer(
                to: try PKI.student(), assignment: "a1", deadline: "", credentials: try Self.blackboardCredentials())
        }

        // A confirmation that does not match the transcript.
        blackboard = BlackboardHandshake()
        student = try Self.student()
        _ = try blackboard.receiveRequest(Self.payload(student.start().messages[0]))
        _ = try blackboard.offer(
            to: try PKI.student(), assignment: "a1", deadline: "", credentials: try Self.blackboardCredentials())
        do {
            _ = try blackboard.receiveConfirmation(Self.payload(.keyConfirmation(mac: Array(repeating: 7, count: 32))))
            Issue.record("a wrong confirmation was accepted")
        } catch {
            #expect(error.code == .keyConfirmationFailed)
        }
    }

    @Test func theRecordLayersRefuseWhatIsOutOfPlace() async throws {
        var student = try Self.student()
        var blackboard = BlackboardHandshake()
        let (studentSide, blackboardSide) = try await Self.handshake(student: &student, blackboard: &blackboard)
        var sending = studentSide.records
        let receiving = blackboardSide.records
        func code(_ message: WireMessage, limit: Int = 100) -> CampusError.Code? {
            var copy = receiving
            do {
                _ = try copy.open(message, maximumMessageSize: limit)
                return nil
            } catch {
                return error.code
            }
        }
        let (first, _) = sending.seal([1, 2, 3])
        #expect(code(first) == nil)
        #expect(code(first, limit: 2) == .messageTooLarge)
        guard case .reportMessage(_, let sealed) = first else { return }
        #expect(
            code(.reportMessage(sequence: 1, sealed: sealed.dropLast() + [sealed.last! ^ 1]))
                == .messageAuthenticationFailed)
        // A message sealed as the end of the report, or with Blackboard's key, does not open as a message.
        #expect(code(.endOfReport(sequence: 1, sealed: sealed)) == .messageAuthenticationFailed)
        #expect(code(.reportMessage(sequence: 1, sealed: sealed + [])) == nil)
        #expect(code(.keyConfirmation(mac: Array(repeating: 0, count: 32))) == .unexpectedMessage)
        let (second, _) = sending.seal([4])
        #expect(code(second) == .outOfOrderMessage)

        // The Student's side: acknowledgements in order, for messages sent, then the receipt.
        var layer = studentSide.records
        _ = layer.seal([9])
        #expect(throws: StudentHandshake.Failure.self) { try layer.receive(receiving.outgoing.acknowledgement(2)) }
        #expect(throws: StudentHandshake.Failure.self) {
            try layer.receive(receiving.outgoing.receipt([1], messageCount: 1))
        }
        guard case .messageAcknowledged(let number, var tag) = receiving.outgoing.acknowledgement(1) else { return }
        tag[0] ^= 1
        #expect(throws: StudentHandshake.Failure.self) {
            try layer.receive(.messageAcknowledged(sequence: number, sealed: tag))
        }
        #expect(try layer.receive(receiving.outgoing.acknowledgement(1)) == .acknowledged(1))
    }
}

extension Array where Element == UInt8 {
    /// Whether `run` occurs as consecutive bytes.
    func containsRun(_ run: [UInt8]) -> Bool {
        guard !run.isEmpty, run.count <= count else { return run.isEmpty }
        return (0...(count - run.count)).contains { self[$0..<($0 + run.count)].elementsEqual(run) }
    }
}

/// `--explain` shows the public values of each step, never a secret: not the session key, not the X25519 private
/// keys or shared secret, not any derived key.
@Suite struct ExplainTests {
    typealias PKI = SignedReceiptTests.PKI

    @Test func explainedLinesHoldNoSecret() async throws {
        let secret = SessionKeySchedule.randomBytes(32)
        let studentShare = Curve25519.KeyAgreement.PrivateKey()
        let blackboardShare = Curve25519.KeyAgreement.PrivateKey()
        var student = try StudentHandshake(
            studentID: SessionStateMachineTests.studentID, certificate: try PKI.student(),
            decryptionKey: try _RSA.Encryption.PrivateKey(derRepresentation: PKI.studentKey.derRepresentation),
            assignment: "a1", verifier: BlackboardCertificateVerifier(root: PKI.root, expectedName: "blackboard"),
            keyShare: studentShare)
        var blackboard = BlackboardHandshake(keyShare: blackboardShare, secret: secret)
        var events: [(SessionEvent, SessionObserver.Side)] = []
        var payloads: [ByteBuffer] = []

        let request = student.start()
        events += request.events.map { ($0, .student) }
        payloads.append(request.messages[0].encoded())
        let (_, received) = try blackboard.receiveRequest(request.messages[0].encoded())
        events += received.map { ($0, .blackboard) }
        let certificate2 = try PKI.student()
        let offer = try blackboard.offer(
            to: certificate2, assignment: "a1", deadline: "",
            credentials: try SessionStateMachineTests.blackboardCredentials())
        events += offer.events.map { ($0, .blackboard) }
        var confirmation: [WireMessage] = []
        for message in offer.messages {
            payloads.append(message.encoded())
            let output = try await student.receive(message.encoded())
            events += output.events.map { ($0, .student) }
            confirmation += output.messages
        }
        let secure = try blackboard.receiveConfirmation(confirmation[0].encoded())
        events += secure.events.map { ($0, .blackboard) }
        let done = try await student.receive(secure.messages[0].encoded())
        events += done.events.map { ($0, .student) }
        var records = try #require(done.established).records
        let (_, sent) = records.seal(Array("a report line".utf8))
        events.append((sent, .student))

        let shared = try SessionKeySchedule.sharedSecret(
            studentShare, peerShare: Array(blackboardShare.publicKey.rawRepresentation))
        var transcript = HandshakeTranscript()
        for payload in payloads { transcript.append(payload) }
        let schedule = SessionKeySchedule(
            transportedSecret: secret, sharedSecret: shared, transcriptDigest: transcript.digest)
        let keys = [
            schedule.studentConfirmationKey, schedule.blackboardConfirmationKey, schedule.studentMessageKey,
            schedule.blackboardMessageKey,
        ].map { $0.withUnsafeBytes { Array($0) } }
        let secrets =
            [secret, shared, Array(studentShare.rawRepresentation), Array(blackboardShare.rawRepresentation)] + keys
        let lines = events.flatMap { SessionObserver.lines(for: $0.0, side: $0.1, explain: true) }
        #expect(lines.count > events.count)  // explain added lines
        #expect(lines.contains { $0.contains(Array(studentShare.publicKey.rawRepresentation).hexString) })
        // Cert 2's fingerprint, made from the certificate the event carries only when the line is shown.
        let fingerprint = certificate2.sha256Fingerprint
        #expect(lines.contains { $0.hasSuffix("cert 2 chains to the CUHK root; SHA-256 fingerprint \(fingerprint)") })
        #expect(
            !events.flatMap { SessionObserver.lines(for: $0.0, side: $0.1, explain: false) }.contains {
                $0.contains(fingerprint)
            })
        for value in secrets {
            // Not even the first 8 bytes, which is what explained ciphertexts show.
            let prefix = Array(value.prefix(8)).hexString
            #expect(!lines.contains { $0.contains(prefix) }, "a secret's first bytes \(prefix) were shown")
        }
    }
}
