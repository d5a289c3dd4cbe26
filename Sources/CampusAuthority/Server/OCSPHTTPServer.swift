import CampusAdmin
import CampusPKI
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// CUHK's OCSP responder over HTTP (Hummingbird), on its own port: `POST` with an `application/ocsp-request`
/// body, and RFC 5019's `GET /<base64 of the request, URL-escaped>`.
///
/// The answers come from ``OCSPResponder``; this type only moves bytes.
public struct OCSPHTTPServer: Service {
    /// Where it listens.
    public struct Configuration: Sendable {
        public var host: String
        /// ``OCSPResponder/defaultPort`` by default; 0 picks a free port.
        public var port: Int
        /// Timeouts, sizes and the connection cap of the port.
        public var limits: HTTPLimits

        public init(host: String = "127.0.0.1", port: Int = OCSPResponder.defaultPort, limits: HTTPLimits = .init()) {
            self.host = host
            self.port = port
            self.limits = limits
        }
    }

    public let configuration: Configuration
    public let responder: OCSPResponder
    /// Settled once the port is bound (or cannot be).
    public let bound: BoundAddress
    let logger: Logger
    /// CUHK's timestamp authority, answered at `POST /tsa` beside OCSP; `nil` answers no timestamp requests.
    public let timestamps: TimestampService?

    public init(
        configuration: Configuration, responder: OCSPResponder, logger: Logger, bound: BoundAddress = .init(),
        timestamps: TimestampService? = nil
    ) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.bound = bound
        self.timestamps = timestamps
    }

    static let responseType = "application/ocsp-response"

    public func run() async throws {
        let router = Router(options: .autoGenerateHeadEndpoints)
        let responder = responder
        let post: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: OCSPResponder.maximumRequestSize)
            } catch {
                return Response(status: .contentTooLarge)
            }
            let answer = await responder.respond(to: Array(buffer: body), logger: context.logger)
            return Self.response(answer, maxAge: nil)
        }
        let get: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            guard let bytes = Self.requestBytes(inPath: request.uri.path) else {
                return Response(status: .badRequest)
            }
            let answer = await responder.respond(to: bytes, logger: context.logger)
            return Self.response(answer, maxAge: Int(responder.configuration.validity))
        }
        if let timestamps { TimestampHTTPRoute.register(on: router, service: timestamps) }
        RevocationListRoute.add(to: router, responder: responder)
        router.post("/", use: post)
        router.post("**", use: post)
        router.get("**", use: get)
        try await HTTPServing.run(
            router, host: configuration.host, port: configuration.port, limits: configuration.limits, bound: bound,
            what: "the OCSP responder", logger: logger)
    }

    static func response(_ bytes: [UInt8], maxAge: Int?) -> Response {
        var headers: HTTPFields = [.contentType: responseType]
        if let maxAge {
            // RFC 5019 section 6.2: a GET answer may be cached by HTTP caches until it is stale.
            headers[.cacheControl] = "max-age=\(maxAge), public, no-transform, must-revalidate"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The DER request in a GET's path; see ``OCSPGetPath``.
    static func requestBytes(inPath path: String) -> [UInt8]? {
        OCSPGetPath.requestBytes(inPath: path)
    }

    /// What keeps the responder from being ready: empty when it listens and answers an HTTP request.
    public func readiness(timeout: TimeAmount = HTTPProbe.defaultTimeout) async -> [String] {
        guard let address = bound.current else { return ["the OCSP responder is not listening"] }
        switch await HTTPProbe.ask(address, timeout: timeout) {
        case .answered(let status) where status == HTTPResponse.Status.serviceUnavailable.code:
            return ["the OCSP responder at \(address.hostAndPort) is at its connection limit"]
        case .answered:
            return []
        case .failed(let reason):
            return ["the OCSP responder at \(address.hostAndPort) does not answer: \(reason)"]
        }
    }
}
