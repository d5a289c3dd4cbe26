import CampusPKI

/// Helpers shared by the fuzz targets.
public enum FuzzInput {
    /// The input as text, with invalid UTF-8 repaired, as a peer's text field would arrive after decoding.
    public static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The input's bytes wrapped as the body of a PEM block, so the ASN.1 parser behind the PEM decoder is
    /// reached with arbitrary DER instead of stopping at the base64.
    public static func pem(_ bytes: UnsafeRawBufferPointer, label: String) -> String {
        let body = base64(bytes)
        var lines = "-----BEGIN \(label)-----\n"
        var index = body.startIndex
        while index < body.endIndex {
            let end = body.index(index, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
            lines += body[index..<end] + "\n"
            index = end
        }
        return lines + "-----END \(label)-----\n"
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding.
    public static func base64(_ bytes: UnsafeRawBufferPointer) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let first = UInt32(bytes[index])
            let second = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let third = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let group = first << 16 | second << 8 | third
            output.append(alphabet[Int(group >> 18 & 0x3F)])
            output.append(alphabet[Int(group >> 12 & 0x3F)])
            output.append(index + 1 < bytes.count ? alphabet[Int(group >> 6 & 0x3F)] : UInt8(ascii: "="))
            output.append(index + 2 < bytes.count ? alphabet[Int(group & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Stops the fuzzer: an error of another type than ``CampusError`` escaped a parser documented to throw only
    /// ``CampusError``.
    public static func unexpected(_ error: any Error, in what: String) -> Never {
        fatalError("\(what) threw \(type(of: error)), not a CampusError: \(error)")
    }
}
