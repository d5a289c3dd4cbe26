/// How a message's content is shown in a terminal.
public enum MessageDisplay {
    /// The most characters shown of one message.
    public static let maximumCharacters = 200

    /// UTF-8 text without control characters as is (cut at 200 characters), anything else as its size. One line
    /// break at the end (a line read from standard input keeps it) is not shown.
    ///
    /// Only the first bytes are examined, so showing a 1 MiB message costs no more than showing a short one.
    public static func text(_ content: [UInt8]) -> String {
        let limit = maximumCharacters * 4
        var lineBreak = 0
        if content.count <= limit, content.last == 0x0A {
            lineBreak = content.count >= 2 && content[content.count - 2] == 0x0D ? 2 : 1
        }
        let head = content.prefix(limit).dropLast(lineBreak)
        // Printable ASCII (and tabs), the usual case: each byte is a character, so no Unicode work is needed.
        let printable = head.withUnsafeBufferPointer { bytes in
            for byte in bytes where (byte < 0x20 && byte != 0x09) || byte >= 0x7F { return false }
            return true
        }
        if printable {
            let shown = head.prefix(maximumCharacters)
            let text = String(decoding: shown, as: UTF8.self)
            return shown.count == content.count - lineBreak ? text : "\(text)… (\(content.count) bytes)"
        }
        var text = String(validating: head, as: UTF8.self)
        if text == nil, content.count > limit {
            // The cut may fall inside a multi-byte character: drop up to three bytes to find its start.
            for dropped in 1...3 where text == nil {
                text = String(validating: head.dropLast(dropped), as: UTF8.self)
            }
        }
        guard let text, !text.unicodeScalars.contains(where: isControl) else { return "<\(content.count) bytes>" }
        let shown = text.prefix(maximumCharacters)
        return shown.utf8.count == content.count - lineBreak ? String(shown) : "\(shown)… (\(content.count) bytes)"
    }

    /// Control characters other than tab; ASCII is decided without the Unicode tables.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return (scalar.value < 0x20 && scalar != "\t") || scalar.value == 0x7F }
        return scalar.properties.generalCategory == .control
    }
}
