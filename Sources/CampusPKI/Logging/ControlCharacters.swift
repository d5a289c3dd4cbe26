/// Makes text that may have come from a peer safe for one terminal or log line.
///
/// A CSR's common name, a request text or an error reason can hold a newline (which would start a forged log
/// line) or an escape byte (which a terminal would obey). Every control character becomes a visible escape:
/// `\n`, `\r`, `\t`, `\u{1B}`, and a backslash is doubled so the escapes cannot be faked. Text without control
/// characters or backslashes is returned as it is.
public enum ControlCharacters {
    /// `text` with its control characters escaped.
    public static func escaped(_ text: String) -> String {
        // Printable ASCII without a backslash, the usual case, is decided on its bytes.
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\\") { return false }
            return true
        }
        if plain == true { return text }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if isControl(scalar) {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\\" || isControl(scalar)
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators and bidirectional overrides, which
    /// can also rearrange what a terminal shows.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || (0x7F...0x9F).contains(value) { return true }
        if value < 0x200E { return false }
        return value == 0x2028 || value == 0x2029 || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value) || value == 0x200E || value == 0x200F
    }
}
