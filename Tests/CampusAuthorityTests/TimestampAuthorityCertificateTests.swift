import CampusPKI
import CampusSQLite
import Crypto
import Foundation
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import CampusAuthority

/// CUHK's TSA certificate: its profile, how it is issued beside the root (idempotent, crash-safe), and that it can
/// stand in for neither a student's certificate nor Blackboard's.
struct TimestampAuthorityCertificateTests {
    static let root = CertificateAuthorityTests.root
    static let otherRoot = OCSPResponderTests.otherRoot

    func configuration(_ directory: String) -> TimestampAuthorityCertificate.Configuration {
        .init(directory: directory)
    }

    @Test func theProfileIsRFC3161s() throws {
        let now = Date()
        let key = P256.Signing.PrivateKey()
        let certificate = try TimestampAuthorityCertificate.make(key: key, root: Self.root, now: now)
        let extensions = certificate.extensions
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(certificate.issuer == Self.root.certificate.subject)
        #expect(Self.root.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(certificate.subject.description == "CN=CUHK Timestamp Authority,O=CUHK")
        #expect(certificate.signatureAlgorithm == .sha256WithRSAEncryption)
        #expect(certificate.serialNumber.bytes.count == 16)
        // Certificate times have whole seconds.
        #expect(abs(certificate.notValidBefore.timeIntervalSince(now.addingTimeInterval(-300))) <= 1)
        #expect(abs(certificate.notValidAfter.timeIntervalSince(now.addingTimeInterval(1095 * 86_400))) <= 1)
        #expect(try extensions.basicConstraints == .notCertificateAuthority)
        #expect(extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        #expect(try extensions.keyUsage == KeyUsage(digitalSignature: true))
        #expect(extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try extensions.extendedKeyUsage.map(Array.init) == [.timeStamping])
        #expect(extensions[oid: .X509ExtensionID.extendedKeyUsage]?.critical == true)
        #expect(
            try extensions.subjectKeyIdentifier?.keyIdentifier
                == RootAuthority.keyIdentifier(of: certificate.publicKey)[...])
        #expect(try extensions.authorityKeyIdentifier?.keyIdentifier == Self.root.keyIdentifier[...])
        #expect(try extensions.subjectAlternativeNames == nil)
        #expect(Array(extensions).count == 5)
        #expect(TimestampAuthorityPolicy().failure(for: certificate) == nil)
        // Never beyond the root.
        let late = try TimestampAuthorityCertificate.make(
            key: key, root: Self.root, validityDays: 100_000, now: now)
        #expect(late.notValidAfter == Self.root.certificate.notValidAfter)
    }

    @Test func theTSACertificateIsNeitherAStudentsNorBlackboards() async throws {
        let certificate = try TimestampAuthorityCertificate.make(key: P256.Signing.PrivateKey(), root: Self.root)
        let pem = try certificate.serializeAsPEM().pemString
        // Blackboard's check of a student's certificate (step 3).
        let student = StudentCertificateVerifier(root: Self.root.certificate)
        do {
            _ = try await student.verify(certificatePEM: pem, for: StudentID("1155123456")!)
            Issue.record("the TSA certificate passed as a student's")
        } catch let error as CampusError {
            // Its ExtendedKeyUsage is critical and no rule for students' certificates handles it: no valid chain.
            #expect(error.code == .untrustedCertificate, "\(error.code) \(error.reason)")
            #expect(error.reason.contains("a critical extension CampusPKI does not handle"))
        }
        // The Student's check of Blackboard's certificate (step 4).
        let blackboard = BlackboardCertificateVerifier(root: Self.root.certificate, expectedName: "blackboard")
        do {
            _ = try await blackboard.verify(certificatePEM: pem)
            Issue.record("the TSA certificate passed as Blackboard's")
        } catch {
            #expect(error.check == .serverAuth)
            #expect(error.reason.contains("no serverAuth usage"))
        }
    }

    @Test func issuedOnceThenLoaded() async throws {
        let directory = try temporaryDirectory()
        let registry = InMemoryAuthorityStore()
        let (issued, origin) = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(directory), root: Self.root, registry: registry)
        #expect(origin == .issued)
        let keyPath = SecureFile.join(directory, "cuhk-tsa.key")
        let certificatePath = SecureFile.join(directory, "cuhk-tsa.cer")
        #expect(SecureFile.mode(of: keyPath) == 0o600)
        #expect(SecureFile.mode(of: certificatePath) == 0o644)
        #expect(try await registry.timestampAuthorityCertificates() == [issued.certificate])
        let (loaded, again) = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(directory), root: Self.root, registry: registry)
        #expect(again == .loaded)
        #expect(loaded.certificate == issued.certificate)
        #expect(loaded.privateKey.rawRepresentation == issued.privateKey.rawRepresentation)
        #expect(try await registry.timestampAuthorityCertificates().count == 1)
    }

    @Test(arguments: TimestampAuthorityCertificate.IssueStep.allCases)
    func aCrashAtAnyStepLeavesAWorkingPairAfterTheNextStart(step: TimestampAuthorityCertificate.IssueStep) async throws
    {
        struct Crash: Error {}
        let directory = try temporaryDirectory()
        let registry = InMemoryAuthorityStore()
        await #expect(throws: Crash.self) {
            try await TimestampAuthorityCertificate.loadOrIssue(
                configuration(directory), root: Self.root, registry: registry
            ) { if $0 == step { throw Crash() } }
        }
        let keyBefore = try SecureFile.readText(at: SecureFile.join(directory, "cuhk-tsa.key"))
        let (authority, origin) = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(directory), root: Self.root, registry: registry)
        // The key written before the crash is kept; the certificate is the one recorded, or issued for that key.
        #expect(keyBefore == authority.privateKey.pemRepresentation)
        #expect(authority.certificate.publicKey == Certificate.PublicKey(authority.privateKey.publicKey))
        switch step {
        case .wroteKey: #expect(origin == .issued)
        case .recorded: #expect(origin == .recovered)
        case .wroteCertificate: #expect(origin == .loaded)
        }
        #expect(try await registry.timestampAuthorityCertificates() == [authority.certificate])
        #expect(
            try Certificate(pemEncoded: SecureFile.readText(at: SecureFile.join(directory, "cuhk-tsa.cer")) ?? "")
                == authority.certificate)
    }

    @Test func aBrokenPairStopsTheStartWithItsReason() async throws {
        let registry = InMemoryAuthorityStore()
        // A certificate without its key.
        let lone = try temporaryDirectory()
        _ = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(lone), root: Self.root, registry: registry)
        try FileManager.default.removeItem(atPath: SecureFile.join(lone, "cuhk-tsa.key"))
        await #expect(throws: TimestampAuthorityCertificate.LoadError.self) {
            try await TimestampAuthorityCertificate.loadOrIssue(
                configuration(lone), root: Self.root, registry: registry)
        }
        // A pair issued under another root.
        let other = try temporaryDirectory()
        _ = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(other), root: Self.otherRoot, registry: registry)
        await #expect(
            throws: TimestampAuthorityCertificate.LoadError.notIssuedByRoot(
                certificatePath: SecureFile.join(other, "cuhk-tsa.cer"))
        ) {
            try await TimestampAuthorityCertificate.loadOrIssue(
                configuration(other), root: Self.root, registry: registry)
        }
        // A key that is not the certificate's.
        let mismatched = try temporaryDirectory()
        _ = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(mismatched), root: Self.root, registry: registry)
        let keyPath = SecureFile.join(mismatched, "cuhk-tsa.key")
        try FileManager.default.removeItem(atPath: keyPath)
        try SecureFile.write(
            P256.Signing.PrivateKey().pemRepresentation, to: keyPath, mode: SecureFile.privateMode, replacing: false)
        await #expect(
            throws: TimestampAuthorityCertificate.LoadError.keyDoesNotMatchCertificate(
                keyPath: keyPath, certificatePath: SecureFile.join(mismatched, "cuhk-tsa.cer"))
        ) {
            try await TimestampAuthorityCertificate.loadOrIssue(
                configuration(mismatched), root: Self.root, registry: registry)
        }
        // A key others may read.
        let open = try temporaryDirectory()
        _ = try await TimestampAuthorityCertificate.loadOrIssue(
            configuration(open), root: Self.root, registry: registry)
        chmod(SecureFile.join(open, "cuhk-tsa.key"), 0o644)
        await #expect(throws: TimestampAuthorityCertificate.LoadError.self) {
            try await TimestampAuthorityCertificate.loadOrIssue(
                configuration(open), root: Self.root, registry: registry)
        }
    }

    @Test func cuhkIssuesItBesideItsRootAndRecordsItInItsDatabase() async throws {
        let directory = try temporaryDirectory()
        let lines = LineLog()
        let store = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        try await Self.startAndStop(
            try await CUHKServer(
                configuration: .init(directory: directory, port: 0, ocspPort: 0), store: store,
                logger: OCSPResponderTests.quiet, reporter: lines.reporter))
        #expect(
            lines.lines.contains {
                $0.hasPrefix("Timestamp authority certificate issued: \(directory)/cuhk-tsa.key (0600)")
            })
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        let recorded = try await registry.timestampAuthorityCertificates()
        #expect(recorded.count == 1)
        let services = try await registry.serviceCertificates()
        // Beside CUHK's own enrollment certificate (`cuhk`), which it issues to itself at every start.
        #expect(services.map(\.name).filter { $0 != EnrollmentChannel.authorityName } == ["cuhk-tsa"])
        // A second start loads the same pair and says nothing of it.
        let again = LineLog()
        try await Self.startAndStop(
            try await CUHKServer(
                configuration: .init(directory: directory, port: 0, ocspPort: 0), store: store,
                logger: OCSPResponderTests.quiet, reporter: again.reporter))
        #expect(!again.lines.contains { $0.contains("Timestamp authority") })
        #expect(try await registry.timestampAuthorityCertificates() == recorded)
    }

    /// Runs `server` until it listens, then stops it.
    static func startAndStop(_ server: CUHKServer) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            _ = try await server.listeningAddress()
        }
    }
}

/// Collects the lines a reporter is given.
final class LineLog: Sendable {
    private let storage = Mutex<[String]>([])
    var reporter: StepReporter { { _, line in self.storage.withLock { $0.append(line) } } }
    var lines: [String] { storage.withLock { $0 } }
}
