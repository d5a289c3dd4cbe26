import CampusPKI
import Hummingbird
import Logging
import NIOCore

/// `GET /crl` on the OCSP responder's port: CUHK's revocation list, DER (`application/pkix-crl`), with an `ETag`, so
/// a poll that sends the last tag in `If-None-Match` and finds nothing new gets `304 Not Modified` and no body.
public enum RevocationListRoute {
    /// The list's path on the responder's port.
    public static let path = "/crl"
    static let contentType = "application/pkix-crl"

    /// Adds the route for `responder`'s root and registry.
    public static func add(to router: Router<BasicRequestContext>, responder: OCSPResponder) {
        let publisher = RevocationListPublisher(
            root: responder.root, registry: responder.registry, validity: responder.configuration.validity)
        router.get(RouterPath(path)) { request, context -> Response in
            let published: RevocationListPublisher.Published
            do {
                published = try await publisher.list()
            } catch {
                context.logger.error("revocation list failed", metadata: ["error": "\(error)"])
                return Response(status: .internalServerError)
            }
            var headers: HTTPFields = [.eTag: published.entityTag, .cacheControl: "no-cache"]
            if let tags = request.headers[.ifNoneMatch],
                tags.split(separator: ",").contains(where: {
                    $0.trimmingCharacters(in: .whitespaces) == published.entityTag
                })
            {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: published.der)))
        }
    }
}
