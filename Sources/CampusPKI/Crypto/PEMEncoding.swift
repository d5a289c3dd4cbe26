import Foundation
import SwiftASN1

extension PEMDocument {
    /// The same text as swift-asn1's `pemString` (the BEGIN line, the base64 of the DER in lines of 64 characters,
    /// the END line, no final line break), made in one pass: `pemString` counts the characters left before each
    /// line, so its work grows with the square of the length, and CUHK encodes every certificate it issues.
    public var text: String {
        let body = Data(derBytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        let lines = body.isEmpty ? "" : body + "\n"
        return "-----BEGIN \(discriminator)-----\n" + lines + "-----END \(discriminator)-----"
    }
}

extension PEMDocument {
    /// The DER bytes of `pem` when it is one block labelled `discriminator` in the form ``text`` writes (the BEGIN
    /// line, lines of 64 base64 characters and a last one of 1 to 64, each ending in a line feed, the END line, at most
    /// one line feed after it); `nil` for any other text, which swift-asn1's parser then judges.
    ///
    /// swift-asn1's `PEMDocument(pemString:)` searches the text and builds a string of the base64 before decoding it:
    /// a sixth of the parsing of cert 2 in every handshake. For text in this form both give the same bytes (the
    /// certificate fuzz target checks that).
    public static func derBytes(ofCanonical pem: String, discriminator: String) -> [UInt8]? {
        let begin = Array("-----BEGIN \(discriminator)-----\n".utf8)
        let end = Array("-----END \(discriminator)-----".utf8)
        var pem = pem
        return pem.withUTF8 { text -> [UInt8]? in
            var count = text.count
            if count > 0, text[count - 1] == UInt8(ascii: "\n") { count -= 1 }
            guard count >= begin.count + end.count + 2,
                text[0..<begin.count].elementsEqual(begin),
                text[(count - end.count)..<count].elementsEqual(end)
            else { return nil }
            let body = UnsafeBufferPointer(rebasing: text[begin.count..<(count - end.count)])
            var base64: [UInt8] = []
            base64.reserveCapacity(body.count)
            var lineStart = 0
            var index = 0
            while index < body.count {
                let byte = body[index]
                if byte == UInt8(ascii: "\n") {
                    let length = index - lineStart
                    // Every line but the last has 64 characters; the last has 1 to 64.
                    guard length >= 1, length <= 64, length == 64 || index == body.count - 1 else { return nil }
                    lineStart = index + 1
                } else {
                    base64.append(byte)
                }
                index += 1
            }
            guard lineStart == body.count, let der = Data(base64Encoded: Data(base64)) else { return nil }
            return Array(der)
        }
    }
}

extension PEMDocument {
    /// The PEM document in `pem`: through ``derBytes(ofCanonical:discriminator:)`` when it is one block labelled
    /// `discriminator` in the form ``text`` writes, and through swift-asn1's parser otherwise (so any other text,
    /// with any label, gets that parser's result and errors).
    ///
    /// - Throws: swift-asn1's error for text that is not PEM.
    public static func parse(_ pem: String, expecting discriminator: String) throws -> PEMDocument {
        if let der = derBytes(ofCanonical: pem, discriminator: discriminator) {
            return PEMDocument(type: discriminator, derBytes: der)
        }
        return try PEMDocument(pemString: pem)
    }
}

extension PEMParseable {
    /// `init(pemEncoded:)`, reading the text with ``PEMDocument/parse(_:expecting:)``: certificates and requests
    /// as CampusPKI writes them skip swift-asn1's search of the text, which costs more than the rest of their PEM
    /// decoding.
    public init(pemText: String) throws {
        try self.init(pemDocument: PEMDocument.parse(pemText, expecting: Self.defaultPEMDiscriminator))
    }
}
