import CampusPKI
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Blackboard as a running service: the trusted root, the report store and the session server.
///
/// The `blackboard` executable, the demo and the tests all start Blackboard through this type.
public final class BlackboardServer: Service, Sendable {
    /// Everything `blackboard serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `blackboard.db` and, by default, `cuhk.cer`.
        public var directory: String
        /// The trusted root; `cuhk.cer` in ``directory`` when `nil`.
        public var rootCertificatePath: String?
        public var host: String
        /// 3141 as in the seed; 0 picks a free port.
        public var port: Int
        /// The largest message content accepted, in bytes.
        public var maximumMessageSize: Int
        /// How long the student may stay silent during the handshake.
        public var handshakeTimeout: TimeAmount
        /// How long an established session may stay silent.
        public var idleTimeout: TimeAmount
        /// How many connections are served at once.
        public var maximumConnections: Int
        /// The smallest RSA key accepted in cert 2.
        public var minimumKeyBits: Int

        public init(
            directory: String = ".",
            rootCertificatePath: String? = nil,
            host: String = "127.0.0.1",
            port: Int = 3141,
            maximumMessageSize: Int = 1024 * 1024,
            handshakeTimeout: TimeAmount = .seconds(10),
            idleTimeout: TimeAmount = .seconds(60),
            maximumConnections: Int = 4096,
            minimumKeyBits: Int = 2048
        ) {
            self.directory = directory
            self.rootCertificatePath = rootCertificatePath
            self.host = host
            self.port = port
            self.maximumMessageSize = maximumMessageSize
            self.handshakeTimeout = handshakeTimeout
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
            self.minimumKeyBits = minimumKeyBits
        }

        /// The path of the trusted root.
        public var rootPath: String { rootCertificatePath ?? SecureFile.join(directory, "cuhk.cer") }
    }

    /// A report frame's payload beyond its content: version, type, sequence, length, MAC.
    static let messageOverhead = 1 + 1 + 8 + 4 + 32
    /// Room for the request text and a PEM certificate, whatever the message size.
    static let minimumFrameSize = 64 * 1024

    public let store: any ReportStore
    public let roots: TrustedRootStore
    private let server: FramedServer

    /// Opens the store and prepares the listener. A missing root is not an error: handshakes are refused
    /// with `root-unavailable` until the file appears.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - store: Where reports go; `blackboard.db` in the directory when `nil`.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    public init(
        configuration: Configuration,
        store: (any ReportStore)? = nil,
        logger: Logger,
        reporter: @escaping StepReporter = { _, _ in }
    ) throws {
        try SecureFile.createDirectory(configuration.directory)
        let store =
            try store ?? SQLiteReportStore(path: SecureFile.join(configuration.directory, SQLiteReportStore.fileName))
        let roots = TrustedRootStore(path: configuration.rootPath)
        self.store = store
        self.roots = roots
        if (try? roots.currentRoot()) == nil {
            reporter(.verification, "No trusted root at \(configuration.rootPath) yet; handshakes wait for it")
            logger.warning("trusted root missing", metadata: ["path": "\(configuration.rootPath)"])
        }
        let handshake = BlackboardHandshake(
            roots: roots,
            minimumKeyBits: configuration.minimumKeyBits,
            reporter: reporter
        )
        let receiver = ReportReceiver(
            store: store,
            maximumMessageSize: configuration.maximumMessageSize,
            reporter: reporter
        )
        let idleTimeout = configuration.idleTimeout
        self.server = FramedServer(
            configuration: .init(
                host: configuration.host,
                port: configuration.port,
                maximumFrameSize: max(configuration.maximumMessageSize + Self.messageOverhead, Self.minimumFrameSize),
                timeout: configuration.handshakeTimeout,
                maximumConnections: configuration.maximumConnections
            ),
            firstExpected: "the handshake",
            logger: logger
        ) { frames, logger in
            let session = try await handshake.run(on: frames, logger: logger)
            var logger = logger
            logger[metadataKey: "sid"] = "\(session.studentID)"
            await frames.setTimeout(idleTimeout, waitingFor: "the next report message")
            let record = SessionRecord(
                sessionID: session.sessionID,
                studentID: session.studentID,
                certificateSerial: session.certificateSerial,
                peer: frames.remoteAddress,
                startedAt: Date()
            )
            let receipt = try await receiver.run(session, record: record, on: frames, logger: logger)
            reporter(
                .messages,
                "Report \(receipt.reportID) from \(session.studentID) complete: \(receipt.messageCount) messages, "
                    + "\(receipt.totalBytes) bytes, SHA-256 \(receipt.digest.hexString)"
            )
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
