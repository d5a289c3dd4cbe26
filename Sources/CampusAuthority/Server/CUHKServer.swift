import CampusPKI
import Logging
import NIOCore
import ServiceLifecycle

/// CUHK as a running service: the root (step 0), the registry, and the enrollment server (step 2).
///
/// The `cuhk` executable, the demo and the tests all start CUHK through this type.
public final class CUHKServer: FramedService, Sendable {
    /// Everything `cuhk serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `cuhk.key`, `cuhk.cer` and `cuhk.db`.
        public var directory: String
        /// RSA key size for a new root.
        public var rootKeySize: Int
        /// Load `cuhk.key` even if others may read it.
        public var allowInsecureKeyPermissions: Bool
        public var host: String
        /// 9335 as in the seed; 0 picks a free port.
        public var port: Int
        public var issuing: CertificateAuthority.Configuration
        /// Who may enroll: the roster's students with their codes (the default), or anyone (`--open-enrollment`).
        public var enrollment: EnrollmentPolicy
        /// The largest request frame accepted.
        public var maximumFrameSize: Int
        /// How long a client may stay silent.
        public var timeout: TimeAmount
        public var maximumConnections: Int
        /// How long connections in flight may go on after a graceful shutdown begins.
        public var shutdownGrace: TimeAmount

        public init(
            directory: String = ".",
            rootKeySize: Int = 2048,
            allowInsecureKeyPermissions: Bool = false,
            host: String = "127.0.0.1",
            port: Int = 9335,
            issuing: CertificateAuthority.Configuration = .init(),
            enrollment: EnrollmentPolicy = .standard,
            maximumFrameSize: Int = 64 * 1024,
            timeout: TimeAmount = .seconds(10),
            maximumConnections: Int = CUHKServer.defaultMaximumConnections,
            shutdownGrace: TimeAmount = .seconds(Int64(ConnectionLimit.defaultShutdownGraceSeconds))
        ) {
            self.directory = directory
            self.rootKeySize = rootKeySize
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
            self.host = host
            self.port = port
            self.issuing = issuing
            self.enrollment = enrollment
            self.maximumFrameSize = maximumFrameSize
            self.timeout = timeout
            self.maximumConnections = maximumConnections
            self.shutdownGrace = shutdownGrace
        }

        /// The listener's part of the configuration.
        var framing: FramedServer.Configuration {
            .init(
                host: host,
                port: port,
                maximumFrameSize: maximumFrameSize,
                timeout: timeout,
                maximumConnections: maximumConnections,
                shutdownGrace: shutdownGrace
            )
        }
    }

    /// The most connections CUHK serves at once by default; enrollments are short.
    public static let defaultMaximumConnections = 1024

    public let authority: CertificateAuthority
    /// Whether step 0 loaded the root or created it.
    public let rootOrigin: RootAuthority.Origin
    private let server: FramedServer

    /// What CUHK's clients send first, named in a timeout.
    static let firstExpected = "an enrollment request"

    /// Binds CUHK's port. `cuhk serve` does this before step 0, so a port that is taken leaves no new root behind.
    public static func listen(configuration: Configuration, logger: Logger) async throws -> FramedServer.Listener {
        try await FramedServer.listen(
            configuration: configuration.framing, firstExpected: firstExpected, logger: logger)
    }

    /// Loads or creates the root, opens the registry and prepares the listener.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - listener: The port, bound already with ``listen(configuration:logger:)``; when `nil`, ``run()`` binds it.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    ///   - checkpoint: Called after each step of a new root's creation (crash tests stop there).
    /// - Throws: ``RootAuthority/LoadError``, ``FileError`` or ``DurableDatabase/OpenError``.
    public init(
        configuration: Configuration,
        listener: FramedServer.Listener? = nil,
        logger: Logger,
        reporter: @escaping StepReporter = { _, _ in },
        checkpoint: (RootAuthority.CreationStep) throws -> Void = { _ in }
    ) throws {
        let (root, origin) = try RootAuthority.load(
            or: .init(
                directory: configuration.directory, keySize: configuration.rootKeySize,
                allowInsecureKeyPermissions: configuration.allowInsecureKeyPermissions),
            checkpoint: checkpoint
        )
        let registry = try SQLiteCertificateRegistry(
            path: SecureFile.join(configuration.directory, SQLiteCertificateRegistry.fileName)
        )
        let authority = CertificateAuthority(
            root: root, registry: registry, configuration: configuration.issuing,
            enrollment: configuration.enrollment, roster: registry)
        self.authority = authority
        self.rootOrigin = origin
        let fingerprint = root.certificate.sha256Fingerprint
        switch origin {
        case .created:
            reporter(.root, "Root key and certificate generated: \(configuration.directory)/cuhk.key (0600), cuhk.cer")
        case .loaded:
            reporter(.root, "Root loaded from \(configuration.directory)/cuhk.cer (\(root.certificate.subject))")
        }
        reporter(.root, "Root SHA-256 fingerprint \(fingerprint)")
        try registry.recordEnrollmentPolicy(configuration.enrollment)
        switch configuration.enrollment {
        case .open:
            reporter(.request, "WARNING: open enrollment: anyone may get a certificate for any 10-digit SID")
            logger.warning("open enrollment: anyone may enroll any SID (--open-enrollment)")
        case .roster:
            if try registry.rosterCount() == 0 {
                reporter(
                    .request,
                    "The roster is empty, so nobody can enroll yet: import one with `cuhk roster import FILE.csv` "
                        + "(header sid,name), then `cuhk codes issue --all-unenrolled` and hand out the codes")
            }
        }
        self.server = FramedServer(
            configuration: configuration.framing,
            firstExpected: Self.firstExpected,
            logger: logger,
            listener: listener
        ) { frames, logger in
            try await EnrollmentHandler(authority: authority, reporter: reporter).serve(frames, logger: logger)
        }
    }

    /// The bound address, once listening.
    public func listeningAddress() async throws -> SocketAddress {
        try await server.listeningAddress()
    }

    public func run() async throws {
        try await server.run()
    }

    /// Ends every open connection now with `shutting-down`.
    public func endConnectionsNow() {
        server.endConnectionsNow()
    }
}
