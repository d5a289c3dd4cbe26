import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStorage
import CampusStudent
import CampusTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import X509
import _CryptoExtras

/// Real CUHK and Blackboard servers on free loopback ports, in a fresh directory.
struct LiveServers {
    var directory: String
    var cuhk: CUHKServer
    var blackboard: BlackboardServer
    var cuhkAddress: ServerAddress
    var blackboardAddress: ServerAddress
    /// CUHK's OCSP responder.
    var ocspAddress: ServerAddress

    var cuhkDirectory: String { SecureFile.join(directory, "cuhk") }
    var rootPath: String { SecureFile.join(cuhkDirectory, "cuhk.cer") }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// What the servers log: nothing, unless `CAMPUSPKI_TEST_LOG` names a level (`warning`, `debug`, …); then each
    /// server's lines at that level and above go to standard error, labelled `cuhk` or `blackboard`, to see why a
    /// test failed.
    static func serverLogger(_ label: String) -> Logger {
        guard let name = ProcessInfo.processInfo.environment["CAMPUSPKI_TEST_LOG"],
            let level = Logger.Level(rawValue: name)
        else { return quiet }
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }

    /// Starts both servers, runs `body`, and stops them, once the test has a place at ``ServerTestGate``. Each
    /// server's store is SQLite in its directory unless one is given.
    static func with<T: Sendable>(
        directory: String? = nil,
        // Generous: a busy machine may take seconds for a step; tests of a timeout set their own.
        cuhkTimeout: TimeAmount = .seconds(60),
        cuhkMinimumKeyBits: Int = 2048,
        enrollment: EnrollmentPolicy = .open,
        cuhkStore: (any AuthorityStore)? = nil,
        blackboardStore: (any BlackboardStore)? = nil,
        blackboardReporter: @escaping StepReporter = { _, _ in },
        configureCUHK: (inout CUHKServer.Configuration) -> Void = { _ in },
        configureBlackboard: (inout BlackboardServer.Configuration) -> Void = { _ in },
        _ body: (LiveServers) async throws -> T
    ) async throws -> T {
        try await ServerTestGate.run {
            try await withoutGate(
                directory: directory, cuhkTimeout: cuhkTimeout, cuhkMinimumKeyBits: cuhkMinimumKeyBits,
                enrollment: enrollment, cuhkStore: cuhkStore, blackboardStore: blackboardStore,
                blackboardReporter: blackboardReporter, configureCUHK: configureCUHK,
                configureBlackboard: configureBlackboard, body)
        }
    }

    private static func withoutGate<T: Sendable>(
        directory: String?,
        cuhkTimeout: TimeAmount,
        cuhkMinimumKeyBits: Int,
        enrollment: EnrollmentPolicy,
        cuhkStore: (any AuthorityStore)?,
        blackboardStore: (any BlackboardStore)?,
        blackboardReporter: @escaping StepReporter,
        configureCUHK: (inout CUHKServer.Configuration) -> Void,
        configureBlackboard: (inout BlackboardServer.Configuration) -> Void,
        _ body: (LiveServers) async throws -> T
    ) async throws -> T {
        let directory = try directory ?? temporaryDirectory()
        let cuhkDirectory = SecureFile.join(directory, "cuhk")
        let blackboardDirectory = SecureFile.join(directory, "blackboard")
        try SecureFile.createDirectory(cuhkDirectory)
        try SecureFile.createDirectory(blackboardDirectory)
        if let cuhkStore, let blackboardStore {
            return try await with(
                directory: directory, cuhkTimeout: cuhkTimeout, cuhkMinimumKeyBits: cuhkMinimumKeyBits,
                enrollment: enrollment, stores: (cuhkStore, blackboardStore), blackboardReporter: blackboardReporter,
                configureCUHK: configureCUHK, configureBlackboard: configureBlackboard, body)
        }
        return try await StoreOpener.withAuthorityStore(at: .sqlite(directory: cuhkDirectory), logger: quiet) {
            sqlite in
            try await StoreOpener.withBlackboardStore(at: .sqlite(directory: blackboardDirectory), logger: quiet) {
                blackboardSQLite in
                try await with(
                    directory: directory, cuhkTimeout: cuhkTimeout, cuhkMinimumKeyBits: cuhkMinimumKeyBits,
                    enrollment: enrollment, stores: (cuhkStore ?? sqlite, blackboardStore ?? blackboardSQLite),
                    blackboardReporter: blackboardReporter, configureCUHK: configureCUHK,
                    configureBlackboard: configureBlackboard, body)
            }
        }
    }

    private static func with<T: Sendable>(
        directory: String,
        cuhkTimeout: TimeAmount,
        cuhkMinimumKeyBits: Int,
        enrollment: EnrollmentPolicy,
        stores: (cuhk: any AuthorityStore, blackboard: any BlackboardStore),
        blackboardReporter: @escaping StepReporter,
        configureCUHK: (inout CUHKServer.Configuration) -> Void,
        configureBlackboard: (inout BlackboardServer.Configuration) -> Void,
        _ body: (LiveServers) async throws -> T
    ) async throws -> T {
        let cuhkDirectory = SecureFile.join(directory, "cuhk")
        var cuhkConfiguration = CUHKServer.Configuration(
            directory: cuhkDirectory,
            port: 0,
            issuing: .init(minimumKeyBits: cuhkMinimumKeyBits),
            enrollment: enrollment,
            timeout: cuhkTimeout,
            ocspPort: 0
        )
        cuhkConfiguration.issuesBlackboardCertificate = true
        configureCUHK(&cuhkConfiguration)
        let cuhk = try await CUHKServer(
            configuration: cuhkConfiguration, store: stores.cuhk, logger: serverLogger("cuhk"))
        var blackboardConfiguration = BlackboardServer.Configuration(
            directory: SecureFile.join(directory, "blackboard"),
            rootCertificatePath: SecureFile.join(cuhkDirectory, "cuhk.cer"),
            certificatePath: SecureFile.join(cuhkDirectory, "blackboard.cer"),
            keyPath: SecureFile.join(cuhkDirectory, "blackboard.key"),
            port: 0,
            // Generous, as CUHK's: tests of the handshake timeout set their own.
            handshakeTimeout: .seconds(60)
        )
        // Generous too: this process's CUHK answers from the threads that every running test shares, and on a busy
        // machine an answer can take longer than the production 5 s. 9 s: swift-certificates ends the whole OCSP
        // check at 10 s whatever the request's own timeout. Tests of these timeouts set their own.
        blackboardConfiguration.ocspTimeout = .seconds(9)
        blackboardConfiguration.timestampTimeout = .seconds(9)
        configureBlackboard(&blackboardConfiguration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await cuhk.run() }
            defer { group.cancelAll() }
            // CUHK issues Blackboard's certificate once its responder listens; Blackboard starts after that.
            let cuhkAddress = try await ServerAddress(cuhk.listeningAddress())
            let blackboard = try BlackboardServer(
                configuration: blackboardConfiguration,
                store: stores.blackboard,
                logger: serverLogger("blackboard"),
                reporter: blackboardReporter
            )
            group.addTask { try await blackboard.run() }
            let servers = LiveServers(
                directory: directory,
                cuhk: cuhk,
                blackboard: blackboard,
                cuhkAddress: cuhkAddress,
                blackboardAddress: try await ServerAddress(blackboard.listeningAddress()),
                ocspAddress: try await ServerAddress(cuhk.ocspListeningAddress())
            )
            return try await body(servers)
        }
    }

    /// An enrollment client for `studentID` in its own directory, using a pre-made key (RSA key generation is
    /// slow in debug builds and is not what these tests are about).
    func enrollment(for studentID: StudentID, key: _RSA.Signing.PrivateKey = TestKeys.pool[0]) throws
        -> EnrollmentClient
    {
        try EnrollmentClient.premade(for: studentID, key: key, under: directory, certificateAuthority: cuhkAddress)
    }

    func enroll(_ studentID: StudentID, key: _RSA.Signing.PrivateKey = TestKeys.pool[0]) async throws
        -> StudentCredentials
    {
        try await enrollment(for: studentID, key: key).enroll(studentID).0
    }

    /// The CUHK root, which Students check Blackboard's certificate against.
    var root: Certificate {
        get throws { try Certificate(pemEncoded: try SecureFile.readText(at: rootPath) ?? "") }
    }

    func uploader(window: Int = ReportWindow.size, assignment: String = "", receipts: String? = nil) throws
        -> UploadClient
    {
        UploadClient(
            configuration: .init(
                blackboard: blackboardAddress, root: try root, assignment: assignment, receiptDirectory: receipts,
                window: window))
    }
}

extension EnrollmentClient {
    /// An enrollment client for `studentID` in `student-<SID>` under `directory`, with `key` saved there first.
    static func premade(
        for studentID: StudentID, key: _RSA.Signing.PrivateKey, under directory: String,
        certificateAuthority: ServerAddress, rootCertificatePath: String? = nil
    ) throws -> EnrollmentClient {
        let studentDirectory = SecureFile.join(directory, "student-\(studentID)")
        try SecureFile.createDirectory(studentDirectory)
        let keyPath = StudentCredentials.keyPath(for: studentID, in: studentDirectory)
        if !SecureFile.exists(keyPath) {
            try SecureFile.write(key.pemRepresentation, to: keyPath, mode: SecureFile.privateMode, replacing: false)
        }
        return EnrollmentClient(
            configuration: .init(
                directory: studentDirectory, certificateAuthority: certificateAuthority,
                rootCertificatePath: rootCertificatePath))
    }
}

extension ServerAddress {
    init(_ address: SocketAddress) {
        self.init(host: address.ipAddress ?? "127.0.0.1", port: address.port ?? 0)
    }
}

enum TestKeys {
    static let pool: [_RSA.Signing.PrivateKey] = (0..<4).map { _ in try! _RSA.Signing.PrivateKey(keySize: .bits2048) }
    static let weak = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-e2e")
}

let sid = StudentID("1155123456")!
