import CampusAuthority
import CampusPKI
import CampusSQLite
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Synchronization
import Testing
import X509
import _CryptoExtras

@testable import CampusStudent

/// The enrollment channel over real connections, against someone on the path between the Student and CUHK who reads,
/// changes and injects every byte.
@Suite struct EnrollmentChannelTests {
    /// A CUHK with a roster holding the student, and a code for them.
    static func withRoster<T: Sendable>(
        _ body: (LiveServers, SQLiteAuthorityStore, EnrollmentCode) async throws -> T
    ) async throws -> T {
        try await LiveServers.with(enrollment: .standard) { servers in
            let registry = try SQLiteAuthorityStore(
                path: SecureFile.join(servers.cuhkDirectory, SQLiteAuthorityStore.fileName))
            _ = try await registry.importRoster([RosterEntry(studentID: sid, name: "Chan Tai Man")])
            let code = EnrollmentCode.random()
            _ = try await registry.storeCode(
                code, for: sid, issuedAt: Date(), expiresAt: Date().addingTimeInterval(3600))
            return try await body(servers, registry, code)
        }
    }

    func client(
        _ servers: LiveServers, at address: ServerAddress, code: EnrollmentCode?, directory: String? = nil,
        key: _RSA.Signing.PrivateKey = TestKeys.pool[0]
    ) throws -> EnrollmentClient {
        var client = try EnrollmentClient.premade(
            for: sid, key: key, under: directory ?? servers.directory, certificateAuthority: address)
        client.configuration.code = code
        return client
    }

    /// Bytes that must never cross the wire in the clear: the code in every form, what CUHK stores of it, the
    /// student ID and the student's public key (in the CSR and in cert 2).
    static func secrets(_ code: EnrollmentCode, key: _RSA.Signing.PrivateKey) -> [[UInt8]] {
        let publicKey = Array(Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoBytes)
        return [
            Array(code.canonical.utf8), Array(code.description.utf8), Array(code.canonical.lowercased().utf8),
            code.hash, Array(sid.rawValue.utf8), Array(publicKey[40..<100]),
        ]
    }

    @Test func anOnPathObserverSeesNoCodeNoCSRAndNoStudentID() async throws {
        try await Self.withRoster { servers, registry, code in
            let relay = RecordingRelay(target: servers.cuhkAddress)
            let credentials = try await relay.run { address in
                try await client(servers, at: address, code: code).enroll(sid).0
            }
            #expect(credentials.certificate.subject.studentID == sid)
            let seen = relay.sentByClient + relay.sentByServer
            #expect(seen.count > 2000)
            for secret in Self.secrets(code, key: TestKeys.pool[0]) {
                #expect(!seen.containsRun(secret))
            }
            // What does travel in the clear: CUHK's certificate and the root it chains to.
            #expect(seen.containsRun(Array("-----BEGIN CERTIFICATE-----".utf8)))
            #expect(try await registry.codes().first?.usedAt != nil)
        }
    }

    /// The seed's attack: a proxy replaces the CSR with its own. The request is sealed, so all it can do is change
    /// ciphertext; CUHK refuses, issues nothing and keeps the code, and the student enrolls with it afterwards.
    @Test func anOnPathProxyThatRewritesTheCSRGetsNoCertificateAndNoCode() async throws {
        try await Self.withRoster { servers, registry, code in
            let relay = RewritingRelay(target: servers.cuhkAddress) { payload in
                guard payload.count > 40, payload[1] == WireMessage.Kind.enrollmentRequest.rawValue else {
                    return payload
                }
                var changed = payload
                for index in 20..<40 { changed[index] ^= 0x5a }
                return changed
            }
            await #expect {
                _ = try await relay.run { address in try await client(servers, at: address, code: code).enroll(sid) }
            } throws: { error in
                guard case .refusedByCUHK(let refusal) = error as? StudentError else { return false }
                return refusal.code == .messageAuthenticationFailed
            }
            #expect(try await registry.certificates(for: sid).isEmpty)
            #expect(try await registry.codes().first?.usedAt == nil)
            for secret in Self.secrets(code, key: TestKeys.pool[0]) {
                #expect(!relay.seen.containsRun(secret))
            }
            // The code was not used: the student enrolls with it, directly.
            let credentials = try await client(
                servers, at: servers.cuhkAddress, code: code, directory: SecureFile.join(servers.directory, "later")
            ).enroll(sid).0
            #expect(credentials.certificate.subject.studentID == sid)
        }
    }

    /// Someone who impersonates CUHK to a student with no pinned root (trust on first use) is sent the sealed request,
    /// which it can open: it gets the CSR and the proof of the code, never the code. Relayed into its own channel
    /// with the real CUHK, with its own CSR or the student's, the proof is refused: it is bound to the other channel.
    @Test func anImpostorCUHKGetsAProofItCannotUse() async throws {
        try await Self.withRoster { servers, registry, code in
            let impostor = try await ImpostorAuthority(relayingTo: servers.cuhkAddress)
            let error = try await impostor.run { address in
                do {
                    _ = try await client(
                        servers, at: address, code: code, directory: SecureFile.join(servers.directory, "victim")
                    ).enroll(sid)
                    return nil as StudentError?
                } catch let error as StudentError {
                    return error
                }
            }
            #expect(error != nil)
            let captured = try #require(impostor.captured)
            #expect(captured.proof.count == 32 && captured.proof != code.hash)
            #expect(!Array(captured.csrPEM.utf8).containsRun(Array(code.canonical.utf8)))
            // The real CUHK refused both relays, issued nothing and kept the code.
            #expect(impostor.answers.map(\.code) == [.enrollmentDenied, .enrollmentDenied])
            #expect(try await registry.certificates(for: sid).isEmpty)
            #expect(try await registry.codes().first?.usedAt == nil)
            // Guessing the code back from the proof takes 2^100 HMACs (docs/SECURITY.md); the student, told the right
            // root's fingerprint, enrolls with the same code.
            var honest = try client(
                servers, at: servers.cuhkAddress, code: code, directory: SecureFile.join(servers.directory, "honest"))
            honest.configuration.rootFingerprint = RootFingerprint(of: try servers.root)
            #expect(try await honest.enroll(sid).0.certificate.subject.studentID == sid)
        }
    }

    /// An expired certificate: the Student says it expired and that `student renew` or a new code fixes it, and
    /// renewal works within the grace period; Blackboard's refusal says the same.
    @Test func anExpiredCertificateIsToldAsSuchAndRenews() async throws {
        try await Self.withRoster { servers, registry, code in
            let client = try client(servers, at: servers.cuhkAddress, code: nil)
            let directory = client.configuration.directory
            // A certificate paid for with the student's code a minute ago, with no validity left: expired now.
            let expiring = CertificateAuthority(
                root: servers.cuhk.authority.root, registry: servers.cuhk.authority.registry,
                configuration: .init(validityDays: 0), enrollment: .standard, roster: registry)
            let csr = try CertificateRequestBuilder.makeRequest(for: sid, key: TestKeys.pool[0])
            let digest = [UInt8](repeating: 0x5a, count: 32)
            let (issued, _) = try await expiring.issue(
                csrPEM: csr,
                proof: EnrollmentCodeProof.make(
                    code: code, transcriptDigest: digest, csrDER: try PEMDocument(pemString: csr).derBytes),
                transcriptDigest: digest, now: Date().addingTimeInterval(-60))
            try SecureFile.write(
                issued.pem, to: StudentCredentials.certificatePath(for: sid, in: directory), mode: 0o644,
                replacing: false)
            try SecureFile.write(
                try SecureFile.readText(at: servers.rootPath) ?? "", to: SecureFile.join(directory, "cuhk.cer"),
                mode: 0o644, replacing: false)

            await #expect {
                _ = try await client.enroll(sid)
            } throws: { error in
                guard case .refusedByCUHK(let refusal) = error as? StudentError else { return false }
                return refusal.code == .enrollmentDenied && refusal.reason.contains("expired at")
                    && refusal.reason.contains("student renew")
            }
            let expired = try StudentCredentials(
                studentID: sid, privateKey: TestKeys.pool[0], certificatePEM: issued.pem)
            await #expect {
                _ = try await servers.uploader().upload([Array("late".utf8)], as: expired)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .certificateExpired && refusal.reason.contains("student renew")
            }
            var renewing = client
            renewing.configuration.keyBits = 2048
            let renewed = try await renewing.renew(sid)
            #expect(renewed.certificate.notValidAfter > Date())
            #expect(renewed.certificate.serialNumber.hex != issued.serial)
        }
    }
}

/// A server that answers like CUHK with a root of its own, opens the Student's sealed request, and relays the proof
/// it finds to the real CUHK in channels of its own: once with its own CSR, once with the Student's.
final class ImpostorAuthority: Sendable {
    struct Captured: Sendable {
        var csrPEM: String
        var proof: [UInt8]
    }

    /// What the impostor learnt and what the real CUHK answered it.
    final class Record: Sendable {
        let state = Mutex<(Captured?, [CampusError])>((nil, []))
    }

    let server: FramedServer
    private let record: Record

    var captured: Captured? { record.state.withLock { $0.0 } }
    var answers: [CampusError] { record.state.withLock { $0.1 } }

    init(relayingTo real: ServerAddress) async throws {
        let root = try RootAuthority.make()
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(try temporaryDirectory(), "cuhk.db"))
        let credentials = try await AuthorityIdentity(root: root, registry: registry).credentials()
        let ownCSR = try CertificateRequestBuilder.makeRequest(for: sid, key: TestKeys.pool[3])
        let record = Record()
        self.record = record
        server = FramedServer(
            configuration: .init(host: "127.0.0.1", port: 0, maximumFrameSize: 1 << 16, timeout: .seconds(10)),
            firstExpected: "an enrollment hello", logger: LiveServers.quiet
        ) { frames, _ in
            var machine = AuthorityEnrollment(credentials: credentials, rootPEM: root.certificatePEM)
            try await frames.writer.send(
                contentsOf: try machine.receiveHello(try await frames.receivePayload()).messages)
            let (request, _) = try machine.receiveRequest(try await frames.receivePayload())
            guard case .enrollment(let csrPEM, let proof) = request.body else { return }
            record.state.withLock { $0.0 = Captured(csrPEM: csrPEM, proof: proof) }
            for csr in [ownCSR, csrPEM] {
                let answer = try await Self.relay(csrPEM: csr, proof: proof, to: real)
                record.state.withLock { $0.1.append(answer) }
            }
            throw CampusError(.internalError, "the server could not complete the request")
        }
    }

    func run<T: Sendable>(_ body: (ServerAddress) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.server.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(ServerAddress(try await server.listeningAddress()))
        }
    }

    /// A client written from PROTOCOL.md section 4, which sends a proof it did not make.
    static func relay(csrPEM: String, proof: [UInt8], to address: ServerAddress) async throws -> CampusError {
        try await FramedClient.withConnection(to: address) { frames in
            let share = Curve25519.KeyAgreement.PrivateKey()
            var transcript = HandshakeTranscript()
            transcript.append(
                try await frames.send(
                    .enrollmentHello(
                        EnrollmentHello(
                            keyShare: Array(share.publicKey.rawRepresentation),
                            nonce: SessionKeySchedule.randomBytes(32)))))
            let (offer, offerPayload) = try await frames.receive()
            transcript.append(offerPayload)
            transcript.append(try await frames.receive().payload)
            guard case .enrollmentOffer(let offered) = offer else {
                return CampusError(.unexpectedMessage, "no offer")
            }
            let schedule = EnrollmentKeySchedule(
                sharedSecret: try SessionKeySchedule.sharedSecret(share, peerShare: offered.keyShare),
                transcriptDigest: transcript.digest)
            let body = EnrollmentRequestBody.enrollment(csrPEM: csrPEM, proof: proof)
            try await frames.send(
                .enrollmentRequest(
                    sequence: 1,
                    sealed: schedule.studentRecords.seal(body.encoded, kind: .enrollmentRequest, sequence: 1)))
            guard case .error(let error) = try await frames.receive().message else {
                return CampusError(.internalError, "CUHK issued a certificate")
            }
            return error
        }
    }
}
