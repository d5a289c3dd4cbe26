import CampusAdmin
import CampusPKI
import Hummingbird
import NIOCore

/// The published deadline manifests, without login on Blackboard's web interface: `GET /manifests/ASSIGNMENT` (the
/// on-time manifest) and `GET /manifests/ASSIGNMENT/late`, each a ``ManifestBundle`` as `text/plain`.
///
/// A manifest reveals only an assignment's name and deadline, how many receipts it lists, and digests of signed
/// receipts, which tell nothing about a student or a report to anyone who does not hold the receipt; students and
/// auditors must be able to fetch the one everyone is shown without an account.
public enum ManifestRoute {
    /// The path under which manifests are served.
    public static let prefix = "/manifests"

    /// The file name a bundle is offered under: `<assignment>-on-time.manifest` or `<assignment>-late.manifest`.
    public static func fileName(assignment: String, kind: ManifestDocument.Kind) -> String {
        "\(assignment)-\(kind.rawValue).manifest"
    }

    /// The path of a manifest.
    public static func path(assignment: String, kind: ManifestDocument.Kind) -> String {
        "\(prefix)/\(assignment)" + (kind == .late ? "/late" : "")
    }

    /// Adds the two routes.
    public static func add(to router: Router<AdminContext>, store: any ReportStore) {
        router.get("\(prefix)/:assignment") { _, context -> Response in
            try await response(context.parameters.get("assignment") ?? "", .onTime, store)
        }
        router.get("\(prefix)/:assignment/late") { _, context -> Response in
            try await response(context.parameters.get("assignment") ?? "", .late, store)
        }
    }

    static func response(_ assignment: String, _ kind: ManifestDocument.Kind, _ store: any ReportStore) async throws
        -> Response
    {
        guard ReceiptDocument.isValidAssignmentName(assignment),
            let manifest = try await store.manifests(of: assignment).first(where: { $0.kind == kind })
        else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "no \(kind.rawValue) manifest of that assignment (yet): it is made when the deadline "
                            + "passes or the assignment is closed\n")))
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/plain; charset=utf-8",
                .contentDisposition: Download.contentDisposition(
                    filename: fileName(assignment: assignment, kind: kind)),
                .xContentTypeOptions: "nosniff", .cacheControl: "no-cache",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: manifest.bundle.bytes)))
    }
}
