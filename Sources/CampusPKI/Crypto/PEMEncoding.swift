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
