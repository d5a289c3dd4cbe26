import CampusPKI
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A server's web interface on its own port (loopback by default): the login, the pages a site adds behind it,
/// and, without login, `GET /healthz`, `GET /readyz`, `GET /metrics` and the routes a site makes public (Blackboard's
/// deadline manifests). `HEAD` works wherever `GET` does.
public struct AdminServer: Service {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port.
        public var port: Int
        /// The token file (`admin-token` in the server's directory).
        public var tokenPath: String
        /// Timeouts, sizes and the connection cap of the port.
        public var limits: HTTPLimits
        /// How long `/readyz` serves one run of the readiness checks.
        public var readinessInterval: Duration

        public init(
            host: String = "127.0.0.1", port: Int, tokenPath: String, limits: HTTPLimits = .init(),
            readinessInterval: Duration = CachedProbe<[String]>.defaultInterval
        ) {
            self.host = host
            self.port = port
            self.tokenPath = tokenPath
            self.limits = limits
            self.readinessInterval = readinessInterval
        }
    }

    /// Adds a site's pages and actions to the router group behind the login.
    public typealias Routes = @Sendable (RouterGroup<AdminContext>, AdminPages) -> Void
    /// Adds a site's read-only routes that need no login.
    public typealias PublicRoutes = @Sendable (Router<AdminContext>) -> Void
    /// What is not ready: an empty list means ready.
    public typealias Readiness = @Sendable () async -> [String]

    public let configuration: Configuration
    public let pages: AdminPages
    public let metrics: ServerMetrics
    public let sessions: AdminSessions
    /// The login token, as in the token file.
    public let token: String
    /// Settled once the port is bound (or cannot be).
    public let bound: BoundAddress
    /// The readiness checks, run at most once per ``Configuration/readinessInterval``.
    let readiness: CachedProbe<[String]>
    let routes: Routes
    let publicRoutes: PublicRoutes?
    let logger: Logger

    /// Loads (or makes) the token and prepares the interface.
    ///
    /// - Parameter sessionStore: Where logged-in sessions are kept: the server's database, so that every instance
    ///   sharing it knows them; this process's memory when omitted.
    /// - Throws: ``FileError`` when the token file cannot be read or written.
    public init(
        configuration: Configuration, pages: AdminPages, metrics: ServerMetrics, logger: Logger,
        sessionStore: any AdminSessionStore = InMemoryAdminSessionStore(),
        readiness: @escaping Readiness, routes: @escaping Routes, publicRoutes: PublicRoutes? = nil
    ) throws {
        self.configuration = configuration
        self.pages = pages
        self.metrics = metrics
        self.logger = logger
        self.readiness = CachedProbe(interval: configuration.readinessInterval, probe: readiness)
        self.routes = routes
        self.publicRoutes = publicRoutes
        token = try AdminToken.loadOrCreate(at: configuration.tokenPath).token
        sessions = AdminSessions(token: token, store: sessionStore)
        bound = BoundAddress()
    }

    /// `http://HOST:PORT/` once bound.
    public static func url(_ address: SocketAddress, path: String = "/") -> String {
        let host = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"
        return "http://\(host):\(address.port ?? 0)\(path)"
    }

    /// The URL that logs a browser in, as printed at start; with `next`, it then opens that page.
    public func loginURL(_ address: SocketAddress, next: String? = nil) -> String {
        Self.url(address, path: "/login?token=\(token)" + (next.map { "&next=\($0)" } ?? ""))
    }

    /// The router, for the server and for route tests.
    public func router() -> Router<AdminContext> {
        let router = Router(context: AdminContext.self, options: .autoGenerateHeadEndpoints)
        let pages = pages
        let sessions = sessions
        let metrics = metrics
        let readiness = readiness
        let tokenPath = configuration.tokenPath
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ -> Response in
            let problems = await readiness.value()
            let text = problems.isEmpty ? "ready\n" : problems.map { $0 + "\n" }.joined()
            return Response(
                status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        @Sendable func attempt(_ given: String?, next: String?, client: String) async throws -> Response {
            let form: [String: Any] = ["tokenFile": tokenPath, "next": next ?? ""]
            guard let given, !given.isEmpty else {
                return pages.page("login", title: "Log in", values: form, session: nil)
            }
            let result: AdminSessions.LoginResult
            do {
                result = try await sessions.login(with: given, from: client)
            } catch let error as StorageUnavailable {
                return AdminAuthMiddleware.unavailable(error)
            }
            switch result {
            case .session(let session):
                // Only a path on this site, as a browser reads it: never an address elsewhere (an open redirect).
                var response = Response.redirect(to: LoginRedirect.target(next), type: .normal)
                response.setCookie(
                    Cookie(
                        name: AdminAuthMiddleware.cookieName, value: session.id, expires: session.expires,
                        path: "/", httpOnly: true, sameSite: .strict))
                return response
            case .wrongToken:
                return pages.page(
                    "login", title: "Log in", values: form.merging(["error": "That is not the token."]) { $1 },
                    session: nil, status: .unauthorized)
            case .rateLimited(let seconds):
                return pages.page(
                    "login", title: "Log in",
                    values: form.merging(["error": "Too many failed logins; try again in \(seconds) s."]) { $1 },
                    session: nil, status: .tooManyRequests)
            }
        }
        router.get("login") { request, context in
            try await attempt(
                request.uri.queryParameters["token"].map(String.init),
                next: request.uri.queryParameters["next"].map(String.init), client: context.client)
        }
        router.post("login") { request, context -> Response in
            let body = try await request.body.collect(upTo: AdminAuthMiddleware.maximumFormSize)
            let form = FormFields.parse(String(buffer: body))
            return try await attempt(form["token"] ?? "", next: form["next"], client: context.client)
        }
        publicRoutes?(router)
        let protected = router.group().add(middleware: AdminAuthMiddleware(sessions: sessions))
        protected.post("logout") { _, context -> Response in
            if let id = context.session?.id { try await sessions.logout(id) }
            var response = Response.redirect(to: "/login", type: .normal)
            response.setCookie(
                Cookie(
                    name: AdminAuthMiddleware.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true,
                    sameSite: .strict))
            return response
        }
        routes(protected, pages)
        return router
    }

    public func run() async throws {
        try await HTTPServing.run(
            router(), host: configuration.host, port: configuration.port, limits: configuration.limits, bound: bound,
            what: "the web interface", logger: logger)
    }
}
