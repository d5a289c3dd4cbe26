import Hummingbird
import NIOCore

/// A file the dashboard hands to the browser: always as an attachment (never shown in the page), under its own
/// name, with its content type only when that type is one no browser would run.
enum Download {
    /// Content types served as they are; any other is served as `application/octet-stream` (an HTML or SVG file a
    /// student uploaded must never run in the dashboard's origin, even if a browser ignored `attachment`).
    static let safeTypes: Set<String> = [
        "text/plain", "text/csv", "text/markdown", "text/tab-separated-values", "application/pdf", "image/png",
        "image/jpeg", "image/gif", "image/webp", "application/zip", "application/gzip", "application/json",
        "application/msword", "application/rtf", "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/pkcs7-signature",
    ]

    /// The type to send for `type`.
    static func servedType(_ type: String) -> String {
        let lowered = type.lowercased()
        return safeTypes.contains(lowered) ? lowered : "application/octet-stream"
    }

    /// `attachment` with the name twice (RFC 6266): `filename` in ASCII for old clients (each other character, and
    /// `"`, `\` and `%`, as `_`), and `filename*` with the exact name in UTF-8, percent-encoded (RFC 8187).
    static func contentDisposition(filename: String) -> String {
        let fallback = String(
            String.UnicodeScalarView(
                filename.unicodeScalars.map { scalar in
                    (0x20...0x7E).contains(scalar.value) && !"\"\\%".unicodeScalars.contains(scalar) ? scalar : "_"
                }))
        let attributeCharacters = Set("!#$&+-.^_`|~".utf8)
        let encoded = filename.utf8.map { byte -> String in
            let isAlphanumeric =
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            return isAlphanumeric || attributeCharacters.contains(byte)
                ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }.joined()
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }

    /// The response.
    static func response(_ bytes: ByteBuffer, name: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: servedType(type), .contentDisposition: contentDisposition(filename: name),
                .cacheControl: "no-store", .xContentTypeOptions: "nosniff",
            ],
            body: .init(byteBuffer: bytes))
    }
}
