import CampusPKI
import Foundation

/// The name and content type the Student sends at the end of a report: the `--file`'s own name, and its type from
/// `--content-type` or guessed from the name's extension.
public enum FileDescription {
    /// The description of a report from `source`.
    ///
    /// - Parameter contentType: `--content-type`, already checked; guessed when `nil`.
    public static func of(_ source: ReportSource, contentType: String?) -> SubmittedFile {
        let name: String
        let type: String
        switch source {
        case .file(let path, _):
            name = sendableName(URL(fileURLWithPath: path).lastPathComponent)
            type = contentType ?? guessedType(forName: name)
        case .messages, .standardInput:
            // Lines of text; no file name.
            name = ""
            type = contentType ?? "text/plain"
        }
        // Both are valid by construction; the fallback only keeps this total.
        return (try? SubmittedFile(name: name, contentType: type))
            ?? (try? SubmittedFile(name: "", contentType: type)) ?? (try! SubmittedFile(name: "", contentType: ""))
    }

    /// `name` as Blackboard accepts it (``SubmittedFile/nameRequirement``): each character it refuses becomes `_`,
    /// and an over-long name keeps its first 255 bytes.
    public static func sendableName(_ name: String) -> String {
        var text = String(
            String.UnicodeScalarView(
                name.unicodeScalars.map { scalar in
                    SubmittedFile.isAllowedInName(scalar)
                        && !SubmittedFile.forbiddenNameCharacters.contains(Character(scalar))
                        ? scalar : "_"
                }))
        while text.contains("..") { text = text.replacingOccurrences(of: "..", with: "._") }
        while text.utf8.count > SubmittedFile.maximumNameBytes { text.removeLast() }
        if let first = text.first, first == "." || first == " " { text = "_" + text.dropFirst() }
        if let last = text.last, last == "." || last == " " { text = text.dropLast() + "_" }
        return SubmittedFile.isValidName(text) ? text : "report"
    }

    /// The media type for a file name's extension; `application/octet-stream` when it is not known.
    public static func guessedType(forName name: String) -> String {
        let dot = name.lastIndex(of: ".")
        let suffix = dot.map { name[name.index(after: $0)...].lowercased() } ?? ""
        return typesByExtension[suffix] ?? "application/octet-stream"
    }

    static let typesByExtension: [String: String] = [
        "txt": "text/plain", "text": "text/plain", "log": "text/plain", "md": "text/markdown",
        "markdown": "text/markdown", "csv": "text/csv", "tsv": "text/tab-separated-values", "html": "text/html",
        "htm": "text/html", "xml": "application/xml", "json": "application/json", "pdf": "application/pdf",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "svg": "image/svg+xml",
        "webp": "image/webp", "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar",
        "doc": "application/msword",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt": "application/vnd.oasis.opendocument.text", "rtf": "application/rtf", "tex": "application/x-tex",
        "c": "text/x-c", "h": "text/x-c", "cpp": "text/x-c++", "py": "text/x-python", "java": "text/x-java",
        "swift": "text/x-swift", "js": "text/javascript", "ipynb": "application/x-ipynb+json",
    ]
}
