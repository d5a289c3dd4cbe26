import CampusPKI
import Logging
import NIOCore
import ServiceLifecycle

/// CUHK as a running service: the root (step 0), the registry, and the enrollment server (step 2).
///
/// The `cuhk` executable, the demo and the tests all start CUHK through this type.
public final class CUHKServer: Service, Sendable {
    /// Everything `cuhk serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `cuhk.key`, `cuhk.cer` and `cuhk.db`.
        public var directory: String
        /// RSA key size for a new root.
        public var rootKeySize: Int
        public var host: String
        /// 9335 as in the seed; 0 picks a free port.
        public var port: Int
        public var issuing: CertificateAuthority.Configuration
        /// The largest request frame accepted.
        public var maximumFrameSize: Int
        /// How long a client may stay silent.
        public var timeout: TimeAmount
        public var maximumConnections: Int

        public init(
            directory: String = ".",
            rootKeySize: Int = 2048,
            host: String = "127.0.0.1",
            port: Int = 9335,
            issuing: CertificateAuthority.Configuration = .init(),
            maximumFrameSize: Int = 64 * 1024,
            timeout: TimeAmount = .seconds(10),
            maximumConnections: Int = 1024
        ) {
            self.directory = directory
            self.rootKeySize = rootKeySize
            self.host = host
            self.port = port
            self.issuing = issuing
            self.maximumFrameSize = maximumFrameSize
            self.timeout = timeout
            self.maximumConnections = maximumConnections
        }
    }

    public let authority: CertificateAuthority
    /// Whether step 0 loaded the root or created it.
    public let rootOrigin: RootAuthority.Origin
    private let server: FramedServer

    /// Loads or creates the root, opens the registry and prepares the listener.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    /// - Throws: ``RootAuthority/LoadError``, ``FileError`` or a database error.
    public init(configuration: Configuration, logger: Logger, reporter: @escaping StepReporter = { _, _ in }) throws {
        let (root, origin) = try RootAuthority.load(
            or: .init(directory: configuration.directory, keySize: configuration.rootKeySize)
        )
        let registry = try SQLiteCertificateRegistry(
            path: SecureFile.join(configuration.directory, SQLiteCertificateRegistry.fileName)
        )
        let authority = CertificateAuthority(root: root, registry: registry, configuration: configuration.issuing)
        self.authority = authority
        self.rootOrigin = origin
        switch origin {
        case .created:
            reporter(.root, "Root key and certificate generated: \(configuration.directory)/cuhk.key (0600), cuhk.cer")
        case .loaded:
            reporter(.root, "Root loaded from \(configuration.directory)/cuhk.cer (\(root.certificate.subject))")
        }
        self.server = FramedServer(
            configuration: .init(
                host: configuration.host,
                port: configuration.port,
                maximumFrameSize: configuration.maximumFrameSize,
                timeout: configuration.timeout,
                maximumConnections: configuration.maximumConnections
            ),
            firstExpected: "an enrollment request",
            logger: logger
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
}
