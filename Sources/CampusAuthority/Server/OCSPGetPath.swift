import CampusAdmin
import CampusPKI
import Foundation

/// The DER OCSP request in the path of an RFC 5019 `GET`: `/<base64 of the request, URL-escaped>`, after the
/// responder's own path, which may have segments of its own behind a proxy (`/ocsp/MEow…`).
///
/// Base64 may contain `/`, so the request may start after any `/` of the path. Trying every suffix in full costs
/// time quadratic in the path (seconds of CPU for 8 KB); this reads the path in time linear in its length: it
/// decodes the escapes once, and a `/` starts a candidate only when everything after it is base64 whose first bytes
/// announce a DER SEQUENCE exactly as long as the rest. At most ``maximumFullDecodes`` candidates are decoded in
/// full.
enum OCSPGetPath {
    /// The longest path looked at, in bytes; the request line's limit keeps longer ones from arriving at all.
    static let maximumPathBytes = HTTPLimits.defaultMaximumRequestLineBytes
    /// Candidates decoded and parsed in full, at most.
    static let maximumFullDecodes = 4

    /// The DER request, or `nil` when the path holds none.
    static func requestBytes(inPath path: String) -> [UInt8]? {
        guard path.utf8.count <= maximumPathBytes else { return nil }
        let text = percentDecoded(Array(path.utf8))
        // Every byte after `lastOutsideAlphabet` is a base64 character.
        let lastOutsideAlphabet = text.lastIndex { Self.value(of: $0) == nil && $0 != UInt8(ascii: "=") } ?? -1
        var fullDecodes = 0
        for start in text.indices.dropFirst() where text[start - 1] == UInt8(ascii: "/") {
            guard fullDecodes < maximumFullDecodes else { break }
            guard start > lastOutsideAlphabet else { continue }
            let rest = text[start...]
            guard let length = announcedLength(rest), 4 * ((length + 2) / 3) == rest.count else { continue }
            fullDecodes += 1
            if let data = Data(base64Encoded: Data(rest)), !data.isEmpty,
                (try? OCSPRequestMessage(derEncoded: Array(data))) != nil
            {
                return Array(data)
            }
        }
        return nil
    }

    /// The DER length (header included) announced by the first bytes of the base64 `text`, when they begin a
    /// SEQUENCE no longer than ``OCSPResponder/maximumRequestSize``.
    static func announcedLength(_ text: ArraySlice<UInt8>) -> Int? {
        guard text.count >= 4, let head = decodeQuantum(text.prefix(4)), head[0] == 0x30 else { return nil }
        switch head[1] {
        case 0..<0x80:
            return 2 + Int(head[1])
        case 0x81:
            return 3 + Int(head[2])
        case 0x82:
            guard text.count >= 8, let next = decodeQuantum(text.dropFirst(4).prefix(4)) else { return nil }
            let length = 4 + (Int(head[2]) << 8 | Int(next[0]))
            return length <= OCSPResponder.maximumRequestSize ? length : nil
        default:
            return nil
        }
    }

    /// Three bytes from four base64 characters without padding.
    private static func decodeQuantum(_ characters: ArraySlice<UInt8>) -> [UInt8]? {
        var bits: UInt32 = 0
        for character in characters {
            guard let value = value(of: character) else { return nil }
            bits = bits << 6 | UInt32(value)
        }
        return [UInt8(bits >> 16 & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits & 0xFF)]
    }

    /// A base64 character's value.
    private static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    /// `bytes` with each `%XX` escape decoded; a `%` that begins no escape stays as it is.
    static func percentDecoded(_ bytes: [UInt8]) -> [UInt8] {
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hex(bytes[index + 1]),
                let low = hex(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return decoded
    }
}
