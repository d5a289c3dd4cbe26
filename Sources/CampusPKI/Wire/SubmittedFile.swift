import NIOCore

/// The name and content type of the file a report came from, as the Student sends them sealed in `endOfReport`
/// (docs/PROTOCOL.md, section 5.7), so that Blackboard's exports and downloads keep them.
///
/// Both travel inside the session's encryption, never in the clear handshake. Both are checked on receipt, and a
/// value that breaks a rule is refused with `malformed-message`: a name is never a path (no `/`, no `..`, no control
/// character) and is safe as a file name on the common systems.
public struct SubmittedFile: Sendable, Hashable {
    /// The file's name without any directory, or empty when the report did not come from a file.
    public var name: String
    /// Its media type, `type/subtype` (for example `text/plain`), or empty when unknown.
    public var contentType: String

    /// The longest name, in bytes of UTF-8.
    public static let maximumNameBytes = 255
    /// The longest content type, in bytes.
    public static let maximumContentTypeBytes = 127
    /// Characters never allowed in a name (besides control and format characters): a path separator on some
    /// system, or a character Windows refuses in file names.
    public static let forbiddenNameCharacters: Set<Character> = ["/", "\\", ":", "*", "?", "\"", "<", ">", "|"]

    /// What a valid name is, in words.
    public static let nameRequirement =
        "a file name is 1 to 255 bytes of UTF-8: letters, marks, digits, punctuation, symbols and spaces, "
        + "without / \\ : * ? \" < > | and without \"..\", not beginning with '.' or a space, not ending with '.' or "
        + "a space"
    /// What a valid content type is, in words.
    public static let contentTypeRequirement =
        "a content type is type/subtype, each 1 to 63 ASCII letters, digits and ! # $ & - ^ _ . +, beginning with a "
        + "letter or digit, at most 127 bytes"

    /// - Throws: ``CampusError`` `malformed-message` when either value breaks its rule.
    public init(name: String, contentType: String) throws(CampusError) {
        guard name.isEmpty || Self.isValidName(name) else {
            throw CampusError(
                .malformedMessage, "the report's file name is not acceptable (\(Self.nameRequirement))")
        }
        guard contentType.isEmpty || Self.isValidContentType(contentType) else {
            throw CampusError(
                .malformedMessage, "the report's content type is not acceptable (\(Self.contentTypeRequirement))")
        }
        self.name = name
        self.contentType = contentType
    }

    /// Whether `name` is an acceptable file name (see ``nameRequirement``).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...maximumNameBytes).contains(name.utf8.count), !name.contains(".."),
            let first = name.first, let last = name.last, first != ".", first != " ", last != ".", last != " "
        else { return false }
        for character in name where forbiddenNameCharacters.contains(character) { return false }
        return name.unicodeScalars.allSatisfy(isAllowedInName)
    }

    /// Letters, marks, numbers, punctuation, symbols and the space: no control, format (such as a right-to-left
    /// override, which could disguise `exe.txt` as `txt.exe`), separator other than the space, or unassigned scalar.
    public static func isAllowedInName(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark,
            .decimalNumber, .letterNumber, .otherNumber,
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation,
            .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }

    /// Whether `type` is `type/subtype` with RFC 6838 restricted names (see ``contentTypeRequirement``).
    public static func isValidContentType(_ type: String) -> Bool {
        guard type.utf8.count <= maximumContentTypeBytes else { return false }
        let parts = type.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            guard (1...63).contains(part.utf8.count), let first = part.utf8.first, isAlphanumeric(first) else {
                return false
            }
            return part.utf8.allSatisfy { isAlphanumeric($0) || Array("!#$&-^_.+".utf8).contains($0) }
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// The `endOfReport` plaintext: the name and the content type, each as a field (u32 length, bytes).
    public var plaintext: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeField(Array(name.utf8))
        buffer.writeField(Array(contentType.utf8))
        return Array(buffer.readableBytesView)
    }

    /// Reads an `endOfReport` plaintext: `nil` for an empty one (a client that sends no file description).
    ///
    /// - Throws: ``CampusError`` `malformed-message` when the plaintext is not two fields, a field is not UTF-8 or
    ///   too long, or a value breaks its rule.
    public static func decode(plaintext: [UInt8]) throws(CampusError) -> SubmittedFile? {
        guard !plaintext.isEmpty else { return nil }
        let limit = 8 + maximumNameBytes + maximumContentTypeBytes
        guard plaintext.count <= limit else {
            throw CampusError(
                .malformedMessage, "the end of the report carries \(plaintext.count) bytes; at most \(limit)")
        }
        var buffer = ByteBuffer(bytes: plaintext)
        let name: String
        let contentType: String
        do {
            name = try buffer.readTextField(named: "file name")
            contentType = try buffer.readTextField(named: "content type")
        } catch let error as CampusError {
            throw error
        } catch {
            throw CampusError(.malformedMessage, "the end of the report cannot be read")
        }
        guard buffer.readableBytes == 0 else {
            throw CampusError(
                .malformedMessage, "\(Count.of(buffer.readableBytes, "byte")) after the end of the file description")
        }
        return try SubmittedFile(name: name, contentType: contentType)
    }
}
