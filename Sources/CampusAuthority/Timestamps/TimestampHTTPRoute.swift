import CampusPKI
import Hummingbird
import NIOCore

/// `POST /tsa` on CUHK's HTTP port (RFC 3161 section 3.4): an `application/timestamp-query` body, answered with an
/// `application/timestamp-reply` body from ``TimestampService``.
///
/// A body over ``TimestampService/maximumRequestSize`` gets HTTP 413 and another content type 415, each with a
/// one-line reason; any other bad request gets an RFC 3161 rejection with HTTP 200, as the RFC has it.
public enum TimestampHTTPRoute {
    /// The route's path.
    public static let path = "/tsa"
    static let queryType = "application/timestamp-query"
    static let replyType = "application/timestamp-reply"

    /// Adds the route to `router`.
    public static func register(on router: Router<BasicRequestContext>, service: TimestampService) {
        router.post(RouterPath(path)) { request, context -> Response in
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
            guard type?.lowercased() == queryType else {
                return text(.unsupportedMediaType, "a timestamp request is sent with Content-Type: \(queryType)\n")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: TimestampService.maximumRequestSize)
            } catch {
                return text(
                    .contentTooLarge,
                    "a timestamp request is at most \(TimestampService.maximumRequestSize) bytes\n")
            }
            let reply = await service.respond(to: Array(buffer: body), logger: context.logger)
            return Response(
                status: .ok, headers: [.contentType: replyType], body: .init(byteBuffer: ByteBuffer(bytes: reply)))
        }
    }

    private static func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: message)))
    }
}
