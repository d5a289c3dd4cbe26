import CampusAdmin
import CampusPKI
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Blackboard as a running service: the trusted root, its store and the session server.
///
/// The `blackboard` executable, the demo and the tests all start Blackboard through this type.
public final class BlackboardServer: FramedService, Sendable {
    /// Everything `blackboard serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `blackboard.db` (when the store is SQLite) and, by default, `cuhk.cer`.
        public var directory: String
        /// The trusted root; `cuhk.cer` in ``directory`` when `nil`.
        public var rootCertificatePath: String?
        /// Blackboard's certificate; `blackboard.cer` in ``directory`` when `nil`.
        public var certificatePath: String?
        /// Blackboard's private key; `blackboard.key` in ``directory`` when `nil`.
        public var keyPath: String?
        /// Whether a key file others may read is used anyway.
        public var allowsInsecureKeyPermissions: Bool
        /// Show each step's public values beside its line (`--explain`).
        public var explain: Bool
        /// The web interface's port (0 picks a free port); `nil` runs none.
        public var adminPort: Int?
        /// The web interface's address.
        public var adminHost: String
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
        /// How many connections one address (an IPv6 /64) may have before step 5 at once
        /// (`--max-handshakes-per-address`); 0: no limit.
        public var maximumHandshakesPerAddress = BlackboardServer.defaultHandshakesPerAddress
        /// How long connections in flight may go on after a graceful shutdown begins.
        public var shutdownGrace: TimeAmount
        /// The load balancers whose connections begin with a PROXY protocol header naming the student
        /// (`--proxy-protocol-from`): the log and the session records then show the student's address.
        public var proxyProtocolPeers: ProxyProtocol.TrustedPeers = .none
        /// The smallest RSA key accepted in cert 2.
        public var minimumKeyBits: Int
        /// What to do when cert 2 names an OCSP responder whose answer cannot be had: refuse (`hard`), accept and
        /// log (`soft`), or do not ask (`off`).
        public var revocation: RevocationPolicy.Mode
        /// Timeouts, sizes and the connection cap of the web interface's port.
        public var httpLimits: HTTPLimits
        /// What one student may store.
        public var limits: StorageLimits
        /// The most sessions one student may have open at once (`--max-sessions-per-student`).
        public var maximumSessionsPerStudent: Int
        /// How often CUHK's revocation list is fetched.
        public var revocationListInterval: Duration
        /// What to do about CUHK's timestamps of reports: refuse a report without one (`hard`), sign its receipt
        /// without one and say so (`soft`), or do not ask (`off`, and no deadline manifests).
        public var timestamps: ReportTimestamper.Mode
        /// CUHK's timestamp service; `nil`: `tsa` beside the OCSP responder Blackboard's certificate names.
        public var timestampAuthorityURL: String?
        /// How often the deadline manifests that are due are looked for.
        public var manifestCheckInterval: Duration
        /// How long after a deadline its on-time manifest is made.
        public var manifestSettle: Duration
        /// How long one OCSP request of a handshake may take, connecting included; less than `handshakeTimeout`.
        public var ocspTimeout = TimeAmount.seconds(BlackboardServer.ocspTimeoutSeconds)
        /// How long one request for CUHK's timestamp of a report may take, connecting included.
        public var timestampTimeout = TimeAmount.seconds(TimestampAuthorityClient.timeoutSeconds)

        public init(
            directory: String = ".",
            rootCertificatePath: String? = nil,
            certificatePath: String? = nil,
            keyPath: String? = nil,
            allowsInsecureKeyPermissions: Bool = false,
            explain: Bool = false,
            adminPort: Int? = nil,
            adminHost: String = "127.0.0.1",
            host: String = "127.0.0.1",
            port: Int = 3141,
            maximumMessageSize: Int = 1024 * 1024,
            handshakeTimeout: TimeAmount = .seconds(10),
            idleTimeout: TimeAmount = .seconds(Int64(BlackboardServer.defaultIdleTimeoutSeconds)),
            maximumConnections: Int = ConnectionLimit.defaultMaximumConnections,
            minimumKeyBits: Int = 2048,
            shutdownGrace: TimeAmount = .seconds(Int64(ConnectionLimit.defaultShutdownGraceSeconds)),
            revocation: RevocationPolicy.Mode = .hard,
            httpLimits: HTTPLimits = .init(),
            limits: StorageLimits = StorageLimits(),
            maximumSessionsPerStudent: Int = OpenSessions.defaultMaximumPerStudent,
            revocationListInterval: Duration = .seconds(RevocationListDefaults.pollIntervalSeconds),
            timestamps: ReportTimestamper.Mode = .soft,
            timestampAuthorityURL: String? = nil,
            manifestCheckInterval: Duration = DeadlineManifests.defaultCheckInterval,
            manifestSettle: Duration = DeadlineManifests.defaultSettle
        ) {
            self.revocationListInterval = revocationListInterval
            self.timestamps = timestamps
            self.timestampAuthorityURL = timestampAuthorityURL
            self.manifestCheckInterval = manifestCheckInterval
            self.manifestSettle = manifestSettle
            self.directory = directory
            self.rootCertificatePath = rootCertificatePath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.allowsInsecureKeyPermissions = allowsInsecureKeyPermissions
            self.explain = explain
            self.adminPort = adminPort
            self.adminHost = adminHost
            self.host = host
            self.port = port
            self.maximumMessageSize = maximumMessageSize
            self.handshakeTimeout = handshakeTimeout
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
            self.shutdownGrace = shutdownGrace
            self.minimumKeyBits = minimumKeyBits
            self.revocation = revocation
            self.httpLimits = httpLimits
            self.limits = limits
            self.maximumSessionsPerStudent = maximumSessionsPerStudent
        }

        /// The listener's part of the configuration.
        var framing: FramedServer.Configuration {
            .init(
                host: host,
                port: port,
                maximumFrameSize: sessionFrameSize,
                initialFrameLimits: BlackboardServer.handshakeFrameLimits,
                timeout: handshakeTimeout,
                maximumConnections: maximumConnections,
                maximumUnprovenPerAddress: maximumHandshakesPerAddress,
                shutdownGrace: shutdownGrace,
                proxyProtocolPeers: proxyProtocolPeers
            )
        }

        /// The largest frame accepted once the handshake is complete: a report message of the maximum size.
        var sessionFrameSize: Int {
            max(maximumMessageSize + BlackboardServer.messageOverhead, BlackboardServer.minimumFrameSize)
        }

        /// The path of the trusted root.
        public var rootPath: String { rootCertificatePath ?? SecureFile.join(directory, "cuhk.cer") }

        /// The name of Blackboard's files in its directory: `blackboard.cer`, `blackboard.key`.
        public static let serviceName = "blackboard"

        /// The path of Blackboard's certificate.
        public var serviceCertificatePath: String {
            certificatePath ?? SecureFile.join(directory, "\(Self.serviceName).cer")
        }

        /// The path of Blackboard's key.
        public var serviceKeyPath: String { keyPath ?? SecureFile.join(directory, "\(Self.serviceName).key") }
    }

    /// A report frame's payload beyond its content: version, type, sequence, length, AEAD tag.
    static let messageOverhead = 1 + 1 + 8 + 4 + WireMessage.tagLength
    /// The smallest limit of a frame after the handshake, whatever the message size.
    static let minimumFrameSize = 64 * 1024

    /// The largest first frame, before anyone is authenticated: an upload request (78 bytes, the 42-byte request text,
    /// an assignment name of up to 64 bytes and cert 2 in PEM, about 1.3 KB for a 2048-bit key and 2.6 KB for an
    /// 8,192-bit one, the largest RSA key BoringSSL accepts) or an assignments query.
    public static let handshakeFrameLimit = 8 * 1024
    /// The largest frame after the first until the handshake is complete: the key confirmation has 34 bytes.
    public static let confirmationFrameLimit = 64
    /// Until Blackboard has sent `sessionSecure`, a connection may only send frames the size of handshake messages, so
    /// one that has proven nothing holds at most a few kilobytes of Blackboard's memory.
    static let handshakeFrameLimits = FramePipeline.InitialLimits(
        first: handshakeFrameLimit, following: confirmationFrameLimit)

    public let store: any BlackboardStore
    public let roots: TrustedRootStore
    /// Blackboard's own certificate and key.
    public let credentials: ServiceCredentialStore
    /// The OCSP responses kept until their `nextUpdate`.
    public let ocspCache: OCSPResponseCache
    /// The OCSP responders that failed a moment ago.
    public let failingResponders: FailingResponders
    /// The revoked certificates CUHK's revocation lists named.
    public let revoked: RevokedCertificates
    /// The sessions open now, by certificate, so that a revocation ends them.
    public let openSessions: OpenSessions
    /// Fetches CUHK's revocation list every few seconds (unless `--revocation off`).
    public let revocationList: RevocationListPoller
    private let pollsRevocationList: Bool
    private let server: FramedServer
    /// The web interface, when configured.
    public let admin: AdminServer?
    /// CUHK's timestamp authority, as Blackboard asks it.
    public let timestampAuthority: TimestampAuthorityClient
    /// The reports between their number and their commit.
    public let reportsInFlight: ReportsInFlight
    /// Makes the deadline manifests.
    public let manifests: DeadlineManifests
    /// What the metrics count.
    public let metrics: BlackboardMetrics

    /// The default port of the web interface (`--admin-port`).
    public static let defaultAdminPort = 3142

    /// Seconds one OCSP request may take, connecting included, unless `--ocsp-timeout` says otherwise. Blackboard's
    /// handshake timer runs meanwhile, so `--handshake-timeout` must be longer. A fetch of the revocation list, which
    /// no handshake waits for, always has this long.
    public static let ocspTimeoutSeconds: Int64 = 5

    /// The longest `--ocsp-timeout`: Blackboard's wait for the responder stays well inside the Student's 30 s.
    public static let maximumOCSPTimeoutSeconds: Int64 = 10

    /// Seconds an established session may stay silent, by default (`--idle-timeout`).
    public static let defaultIdleTimeoutSeconds = 60
    /// The most connections one address may have in the handshake at once, by default: more than the students of a
    /// lab behind one NAT open at the same moment, a sixteenth of the default connection cap.
    public static let defaultHandshakesPerAddress = 256

    /// What Blackboard's clients send first, named in a timeout.
    static let firstExpected = "the handshake"

    /// Binds Blackboard's port; `blackboard serve` does this after checking its database.
    public static func listen(configuration: Configuration, logger: Logger) async throws -> FramedServer.Listener {
        try await FramedServer.listen(
            configuration: configuration.framing, firstExpected: firstExpected, logger: logger)
    }

    /// Prepares the listener. A missing root is not an error: handshakes are refused with `root-unavailable` until
    /// the file appears.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - store: Where reports go, open (``CampusStorage`` opens the one the configuration names).
    ///   - listener: The port, bound already with ``listen(configuration:logger:)``; when `nil`, ``run()`` binds it.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    /// - Throws: ``FileError`` when the web interface's token file cannot be read or written.
    public init(
        configuration: Configuration,
        store: any BlackboardStore,
        listener: FramedServer.Listener? = nil,
        logger: Logger,
        reporter: @escaping StepReporter = { _, _ in }
    ) throws {
        let roots = TrustedRootStore(path: configuration.rootPath)
        let credentials = ServiceCredentialStore(
            certificatePath: configuration.serviceCertificatePath, keyPath: configuration.serviceKeyPath,
            allowsInsecureKeyPermissions: configuration.allowsInsecureKeyPermissions)
        self.store = store
        self.roots = roots
        self.credentials = credentials
        let ocspCache = OCSPResponseCache()
        self.ocspCache = ocspCache
        let failingResponders = FailingResponders()
        self.failingResponders = failingResponders
        let revoked = RevokedCertificates()
        self.revoked = revoked
        let openSessions = OpenSessions(maximumPerStudent: configuration.maximumSessionsPerStudent)
        self.openSessions = openSessions
        let revocationList = RevocationListPoller(
            interval: configuration.revocationListInterval, roots: roots, store: store, revoked: revoked,
            sessions: openSessions, logger: logger)
        self.revocationList = revocationList
        self.pollsRevocationList = configuration.revocation != .off
        if (try? roots.currentRoot()) == nil {
            reporter(
                .verification,
                "No trusted root at \(configuration.rootPath) yet; handshakes wait for it (cuhk init or cuhk serve "
                    + "writes cuhk.cer in CUHK's directory; copy it here, or give --root-cert)")
            logger.warning("trusted root missing", metadata: ["path": "\(configuration.rootPath)"])
        }
        if (try? credentials.current()) == nil {
            reporter(
                .sessionKey,
                "No certificate of its own at \(configuration.serviceCertificatePath) yet; handshakes wait for it "
                    + "(cuhk init or cuhk serve writes blackboard.cer and blackboard.key beside cuhk.cer; for another "
                    + "directory, run cuhk service issue --out DIR where CUHK's key is)")
            logger.warning(
                "service certificate missing",
                metadata: [
                    "certificate": "\(configuration.serviceCertificatePath)", "key": "\(configuration.serviceKeyPath)",
                ])
        }
        let explain = configuration.explain
        let metrics = BlackboardMetrics()
        self.metrics = metrics
        // One bound for this server's requests to CUHK, OCSP and timestamps together (the revocation list's fetches
        // go one at a time): servers sharing a process, as in the tests, do not wait for each other's.
        let requestGate = RequestGate(permits: RevocationHTTPClient.maximumConnectionsPerResponder)
        let timestampAuthority = TimestampAuthorityClient(
            configuredURL: configuration.timestampAuthorityURL, credentials: credentials, roots: roots,
            failures: FailingResponders(), timeout: configuration.timestampTimeout, gate: requestGate
        )
        self.timestampAuthority = timestampAuthority
        let timestamper = ReportTimestamper(
            mode: configuration.timestamps, authority: timestampAuthority, outcome: { metrics.record($0) })
        let reportsInFlight = ReportsInFlight()
        self.reportsInFlight = reportsInFlight
        manifests = DeadlineManifests(
            store: store, credentials: credentials, roots: roots, authority: timestampAuthority,
            inFlight: reportsInFlight, enabled: configuration.timestamps != .off,
            checkInterval: configuration.manifestCheckInterval, settle: configuration.manifestSettle, logger: logger,
            reporter: reporter)
        if let adminPort = configuration.adminPort {
            let dashboard = BlackboardDashboard(store: store)
            admin = try AdminServer(
                configuration: .init(
                    host: configuration.adminHost, port: adminPort,
                    tokenPath: SecureFile.join(configuration.directory, AdminToken.fileName(for: "blackboard")),
                    limits: configuration.httpLimits),
                pages: try BlackboardDashboard.pages(), metrics: metrics.metrics, logger: logger, sessionStore: store,
                readiness: {
                    var problems: [String] = []
                    do {
                        try await store.probeWrite()
                    } catch let error as StorageUnavailable {
                        problems.append("\(store.location) cannot be reached (\(error.cause))")
                    } catch {
                        problems.append("\(store.location) does not accept writes")
                    }
                    if (try? roots.currentRoot()) == nil { problems.append("no trusted root (cuhk.cer)") }
                    if (try? credentials.current()) == nil {
                        problems.append("no usable certificate and key of its own (blackboard.cer, blackboard.key)")
                    }
                    return problems
                },
                routes: { group, pages in dashboard.routes(group, pages) },
                publicRoutes: { router in ManifestRoute.add(to: router, store: store) })
        } else {
            admin = nil
        }
        let handshake = HandshakeDriver(
            roots: roots,
            credentials: credentials,
            store: store,
            minimumKeyBits: configuration.minimumKeyBits,
            revocation: configuration.revocation,
            ocspCache: ocspCache,
            failingResponders: failingResponders,
            revoked: revoked,
            revocationList: revocationList,
            sessionFrameSize: configuration.sessionFrameSize,
            limits: configuration.limits,
            openSessions: openSessions,
            ocspTimeout: configuration.ocspTimeout,
            ocspGate: requestGate
        )
        let opener = SessionOpener(
            handshake: handshake, revoked: revoked, store: store,
            maximumMessageSize: configuration.maximumMessageSize, limits: configuration.limits,
            idleTimeout: configuration.idleTimeout, timestamper: timestamper, reportsInFlight: reportsInFlight)
        self.server = FramedServer(
            configuration: configuration.framing,
            firstExpected: Self.firstExpected,
            logger: logger,
            listener: listener,
            serving: .opened { frames, logger in
                // Steps 3-5, in a child task of the connection's (FramedServer); step 6 continues in the connection's
                // task, which keeps only what it needs (SessionOpener).
                let observer = SessionObserver(
                    side: .blackboard, explain: explain, reporter: reporter, logger: logger, sinks: [metrics.sink])
                observer([.connectionOpened])
                let session: OpenedSession?
                do {
                    session = try await opener.open(frames, observer: observer, logger: logger)
                } catch {
                    observer([.connectionClosed])
                    throw error
                }
                // An assignments query: answered, and the connection ends.
                if session == nil { observer([.connectionClosed]) }
                return session
            })
    }

    /// The bound address, once listening.
    public func listeningAddress() async throws -> SocketAddress {
        try await server.listeningAddress()
    }

    /// The web interface's bound address, once it listens.
    ///
    /// - Throws: Its bind error, or ``CampusError`` when Blackboard runs no web interface.
    public func adminAddress() async throws -> SocketAddress {
        guard let admin else { throw CampusError(.internalError, "Blackboard runs no web interface") }
        return try await admin.bound.value()
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { polling in
            // The revocation list is polled, and the deadline manifests made, until the server stops.
            if pollsRevocationList {
                let revocationList = revocationList
                polling.addTask { await revocationList.run() }
            }
            let manifests = manifests
            polling.addTask { await manifests.run() }
            defer { polling.cancelAll() }
            // Both in child tasks: when one fails (its port is taken), the group cancels the other.
            try await withThrowingDiscardingTaskGroup { group in
                if let admin { group.addTask { try await admin.run() } }
                group.addTask { try await self.server.run() }
            }
        }
    }

    /// Ends every open connection now with `shutting-down`.
    public func endConnectionsNow() {
        server.endConnectionsNow()
    }
}
