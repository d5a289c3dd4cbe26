import Crypto
import SwiftASN1
import X509

extension Certificate {
    /// The SHA-256 of the certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it
    /// (upper-case hex pairs joined by colons).
    ///
    /// Every CUHK root has the same name, so the fingerprint is what tells one root from another.
    public var sha256Fingerprint: String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(self)) != nil else { return "?" }
        return Self.colonHex(SHA256.hash(data: serializer.serializedBytes))
    }

    /// Upper-case hex pairs joined by colons, written into one buffer.
    static func colonHex(_ bytes: some Sequence<UInt8>) -> String {
        func digit(_ value: UInt8) -> UInt8 { value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10 }
        var text: [UInt8] = []
        text.reserveCapacity(96)
        for byte in bytes {
            if !text.isEmpty { text.append(UInt8(ascii: ":")) }
            text.append(digit(byte >> 4))
            text.append(digit(byte & 0x0f))
        }
        return String(decoding: text, as: UTF8.self)
    }
}
