import Crypto
import SwiftASN1
import X509

/// Which CUHK root the Student accepts in the enrollment offer, decided before it sends anything secret.
public enum RootTrust: Sendable {
    /// A root file (`--root-cert`, or the `cuhk.cer` pinned before): CUHK must send exactly this root.
    case pinned(Certificate, path: String)
    /// `--root-fingerprint`: the root CUHK sends must have this SHA-256.
    case fingerprint(RootFingerprint)
    /// Trust on first use: the root CUHK sends, which the Student then pins.
    case firstUse

    /// How the root was accepted, for the lines that say so.
    public enum Source: Sendable, Hashable {
        case pinned(path: String)
        case fingerprint
        case firstUse
    }
}

/// The SHA-256 of a root certificate's DER, as `student --root-fingerprint` takes it and `openssl x509 -fingerprint
/// -sha256` prints it.
public struct RootFingerprint: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// What a fingerprint looks like, for messages.
    public static let requirement =
        "a root fingerprint is 64 hexadecimal digits (the SHA-256 of the root certificate), with or without colons, "
        + "in any case, as CUHK prints it at start"

    /// Reads 64 hex digits, with or without colons between the pairs, in any case.
    public init?(_ text: String) {
        let digits = text.filter { $0 != ":" }
        guard digits.count == 64, digits.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }

    /// The fingerprint of `certificate`.
    public init(of certificate: Certificate) {
        var serializer = DER.Serializer()
        try? serializer.serialize(certificate)
        bytes = Array(SHA256.hash(data: serializer.serializedBytes))
    }

    /// Upper-case hex pairs joined by colons, as ``X509/Certificate/sha256Fingerprint``.
    public var description: String {
        bytes.colonSeparatedHex
    }
}
