import CampusPKI
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509
import _CryptoExtras

/// Both sides of the enrollment channel driven against each other in memory: no sockets, no clocks.
@Suite struct EnrollmentStateMachineTests {
    typealias PKI = SignedReceiptTests.PKI

    static let code = EnrollmentCode("7K3Q-M9XA-2C4R-TV8H-N5PW")!
    static let cuhkKey = P256.Signing.PrivateKey()

    static func csr(key: _RSA.Signing.PrivateKey = PKI.studentKey, cn: String = "1155123456") throws -> String {
        try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(cn) }, privateKey: Certificate.PrivateKey(key),
            attributes: .init(), signatureAlgorithm: .sha256WithRSAEncryption
        ).serializeAsPEM().pemString
    }

    static func authority(certificate: Certificate? = nil, key: P256.Signing.PrivateKey = cuhkKey) throws
        -> AuthorityEnrollment
    {
        AuthorityEnrollment(
            credentials: try .init(
                certificate: certificate ?? (try PKI.service(name: "cuhk", key: cuhkKey)), privateKey: key),
            rootPEM: try PKI.root.serializeAsPEM().pemString)
    }

    static func student(
        _ request: StudentEnrollment.Request? = nil, trust: RootTrust = .pinned(PKI.root, path: "cuhk.cer")
    ) throws -> StudentEnrollment {
        StudentEnrollment(request: try request ?? .enrollment(csrPEM: csr(), code: code), trust: trust)
    }

    /// Runs the channel up to the sealed request; `alter` may change each message CUHK sends.
    static func open(
        _ student: inout StudentEnrollment, _ authority: inout AuthorityEnrollment,
        alter: (WireMessage) -> WireMessage = { $0 }
    ) async throws -> (request: WireMessage, payloads: [ByteBuffer]) {
        let hello = student.start()
        let offer = try authority.receiveHello(hello.messages[0].encoded())
        #expect(offer.messages.map(\.kind) == [.enrollmentOffer, .enrollmentSignature])
        var sent: [WireMessage] = []
        for message in offer.messages {
            let output = try await student.receive(alter(message).encoded())
            sent += output.messages
        }
        let request = try #require(sent.first)
        return (request, [hello.messages[0].encoded()] + offer.messages.map { $0.encoded() })
    }

    @Test func bothSidesAgreeAndTheCodeIsProvenWithoutBeingSent() async throws {
        var student = try Self.student()
        var authority = try Self.authority()
        let (request, payloads) = try await Self.open(&student, &authority)
        #expect(request.kind == .enrollmentRequest)
        let (received, _) = try authority.receiveRequest(request.encoded())
        guard case .enrollment(let csrPEM, let proof) = received.body else {
            Issue.record("not an enrollment request")
            return
        }
        #expect(csrPEM == (try Self.csr()))
        var transcript = HandshakeTranscript()
        for payload in payloads { transcript.append(payload) }
        #expect(received.transcriptDigest == transcript.digest)
        #expect(
            EnrollmentCodeProof.isValid(
                proof, codeHash: Self.code.hash, transcriptDigest: received.transcriptDigest,
                csrDER: try PEMDocument(pemString: csrPEM).derBytes))

        let certificatePEM = try PKI.student().serializeAsPEM().pemString
        let answer = authority.answer(certificatePEM: certificatePEM)
        let done = try await student.receive(answer.messages[0].encoded())
        #expect(done.certificatePEM == certificatePEM)

        // Nothing of the code, the CSR or the student ID crosses the wire in the clear.
        let wire = (payloads + [request.encoded(), answer.messages[0].encoded()]).flatMap {
            Array($0.readableBytesView)
        }
        for secret in [
            Array(Self.code.canonical.utf8), Array(Self.code.description.utf8), Self.code.hash,
            Array(try PEMDocument(pemString: csrPEM).derBytes.prefix(64)), Array("1155123456".utf8),
        ] {
            #expect(!wire.containsRun(secret))
        }
    }

    @Test func aRenewalIsProvenByTheCurrentKeyOverTheChannel() async throws {
        let newKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let current = try PKI.student().serializeAsPEM().pemString
        var student = try Self.student(
            .renewal(csrPEM: try Self.csr(key: newKey), certificatePEM: current, key: PKI.studentKey))
        var authority = try Self.authority()
        let (request, _) = try await Self.open(&student, &authority)
        #expect(request.kind == .renewalRequest)
        let (received, _) = try authority.receiveRequest(request.encoded())
        guard case .renewal(let certificatePEM, let csrPEM, let signature) = received.body else {
            Issue.record("not a renewal")
            return
        }
        #expect(certificatePEM == current)
        #expect(
            RenewalProof.isValid(
                signature, transcriptDigest: received.transcriptDigest,
                csrDER: try PEMDocument(pemString: csrPEM).derBytes,
                publicKey: try #require(_RSA.Signing.PublicKey(Certificate.PublicKey(PKI.studentKey.publicKey)))))
    }

    /// Every impostor fails while the Student has sent nothing but its hello: no code is used by a failed attempt.
    @Test func anImpostorGetsNothingButTheHello() async throws {
        func failure(
            trust: RootTrust = .pinned(PKI.root, path: "cuhk.cer"), certificate: Certificate? = nil,
            key: P256.Signing.PrivateKey = Self.cuhkKey, alter: (WireMessage) -> WireMessage = { $0 }
        ) async throws -> AuthorityAuthenticationError.Check? {
            var student = try Self.student(trust: trust)
            var authority = try Self.authority(certificate: certificate, key: key)
            let hello = student.start()
            let offer = try authority.receiveHello(hello.messages[0].encoded())
            for message in offer.messages {
                do {
                    let output = try await student.receive(alter(message).encoded())
                    if !output.messages.isEmpty { return nil }
                } catch StudentEnrollment.Failure.notAuthenticated(let error) {
                    return error.check
                }
            }
            return nil
        }
        // A CUHK whose root is not the one pinned (a stale cuhk.cer), or not the fingerprint given.
        #expect(try await failure(trust: .pinned(PKI.otherRoot, path: "cuhk.cer")) == .root)
        #expect(try await failure(trust: .fingerprint(RootFingerprint(of: PKI.otherRoot))) == .root)
        #expect(try await failure(trust: .fingerprint(RootFingerprint(of: PKI.root))) == nil)
        // Blackboard's certificate, a student's, one from another root, an expired one.
        #expect(try await failure(certificate: try PKI.service(name: "blackboard", key: Self.cuhkKey)) == .name)
        #expect(try await failure(certificate: try PKI.student()) == .serverAuth)
        #expect(
            try await failure(
                certificate: try PKI.service(name: "cuhk", key: Self.cuhkKey, issuerKey: PKI.otherRootKey))
                == .issuer)
        #expect(
            try await failure(
                certificate: try PKI.service(
                    name: "cuhk", key: Self.cuhkKey, notBefore: Date().addingTimeInterval(-9 * 86_400),
                    notAfter: Date().addingTimeInterval(-86_400))) == .validity)
        // The right certificate, without its key: the signature fails.
        #expect(try await failure(key: P256.Signing.PrivateKey()) == .signature)
        // A changed offer (another key share) breaks the signature too.
        #expect(
            try await failure(alter: { message in
                guard case .enrollmentOffer(var offer) = message else { return message }
                offer.keyShare = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)
                return .enrollmentOffer(offer)
            }) == .signature)
    }

    /// A sealed request changed on the way, or sealed for another channel (relayed by someone in the middle), does
    /// not open.
    @Test func aChangedOrRelayedRequestDoesNotOpen() async throws {
        var student = try Self.student()
        var authority = try Self.authority()
        let (request, _) = try await Self.open(&student, &authority)
        guard case .enrollmentRequest(let sequence, var sealed) = request else { return }
        sealed[10] ^= 1
        #expect {
            _ = try authority.receiveRequest(
                WireMessage.enrollmentRequest(sequence: sequence, sealed: sealed).encoded())
        } throws: { ($0 as? CampusError)?.code == .messageAuthenticationFailed }

        var other = try Self.authority()
        var second = try Self.student()
        _ = try await Self.open(&second, &other)
        #expect {
            _ = try other.receiveRequest(request.encoded())
        } throws: { ($0 as? CampusError)?.code == .messageAuthenticationFailed }
    }

    @Test func cuhkRefusesAnythingButAHelloAndALowOrderShare() throws {
        var authority = try Self.authority()
        #expect {
            _ = try authority.receiveHello(WireMessage.keepAlive.encoded())
        } throws: { ($0 as? CampusError)?.code == .unexpectedMessage }
        var another = try Self.authority()
        #expect {
            _ = try another.receiveHello(
                WireMessage.enrollmentHello(
                    EnrollmentHello(keyShare: Array(repeating: 0, count: 32), nonce: Array(repeating: 1, count: 32))
                ).encoded())
        } throws: { ($0 as? CampusError)?.code == .malformedMessage }
    }

    /// `--explain` shows the public values of steps 1–2, never the code, its proof, a private key share, the shared
    /// secret or a derived key.
    @Test func explainedLinesHoldNoSecret() async throws {
        let studentShare = Curve25519.KeyAgreement.PrivateKey()
        let cuhkShare = Curve25519.KeyAgreement.PrivateKey()
        var student = StudentEnrollment(
            request: .enrollment(csrPEM: try Self.csr(), code: Self.code), trust: .pinned(PKI.root, path: "cuhk.cer"),
            keyShare: studentShare)
        var authority = AuthorityEnrollment(
            credentials: try .init(
                certificate: try PKI.service(name: "cuhk", key: Self.cuhkKey), privateKey: Self.cuhkKey),
            rootPEM: try PKI.root.serializeAsPEM().pemString, keyShare: cuhkShare)
        var events: [EnrollmentEvent] = []
        let hello = student.start()
        events += hello.events
        let offer = try authority.receiveHello(hello.messages[0].encoded())
        events += offer.events
        var request: [WireMessage] = []
        for message in offer.messages {
            let output = try await student.receive(message.encoded())
            events += output.events
            request += output.messages
        }
        let (received, opened) = try authority.receiveRequest(request[0].encoded())
        events += opened
        let answer = authority.answer(certificatePEM: try PKI.student().serializeAsPEM().pemString)
        events += try await student.receive(answer.messages[0].encoded()).events
        events.append(
            .certificateIssued(
                studentID: StudentID("1155123456")!, serial: "01", renewing: nil, authorization: "a code"))

        guard case .enrollment(_, let proof) = received.body else { return }
        let shared = try SessionKeySchedule.sharedSecret(
            studentShare, peerShare: Array(cuhkShare.publicKey.rawRepresentation))
        let schedule = EnrollmentKeySchedule(sharedSecret: shared, transcriptDigest: received.transcriptDigest)
        let secrets = [
            Self.code.hash, proof, shared, Array(studentShare.rawRepresentation), Array(cuhkShare.rawRepresentation),
            schedule.studentKey.withUnsafeBytes { Array($0) }, schedule.authorityKey.withUnsafeBytes { Array($0) },
        ]
        let lines = events.flatMap { EnrollmentObserver.lines(for: $0, explain: true) }
        #expect(lines.count > events.count)
        #expect(lines.contains { $0.contains(Array(studentShare.publicKey.rawRepresentation).hexString) })
        #expect(lines.contains { $0.contains(PKI.root.sha256Fingerprint) })
        for value in secrets {
            let prefix = Array(value.prefix(8)).hexString
            #expect(!lines.contains { $0.lowercased().contains(prefix) }, "a secret's first bytes \(prefix) were shown")
        }
        for text in [Self.code.canonical, Self.code.description] {
            #expect(!lines.contains { $0.uppercased().contains(text) })
        }
        // Without --explain, the Student shows only that CUHK was authenticated and Get Cert2!.
        let quiet = events.flatMap { EnrollmentObserver.lines(for: $0, explain: false) }
        #expect(quiet.filter { $0.hasPrefix("Get Cert2!") }.count == 1)
        #expect(quiet.filter { $0.hasPrefix("CUHK authenticated") }.count == 1)
    }
}
