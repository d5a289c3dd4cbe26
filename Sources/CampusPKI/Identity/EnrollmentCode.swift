import Crypto
import Foundation

/// A one-time enrollment code: 100 bits from the system CSPRNG, written for people in Crockford's base32 as five
/// groups of four (`7K3Q-M9XA-2C4R-TV8H-N5PW`).
///
/// Reading is forgiving: case does not matter, dashes and spaces may be left out or put anywhere, and the letters
/// people confuse with digits (`I`, `L` for 1; `O` for 0) are read as those digits. CUHK stores only the SHA-256
/// of the canonical form.
public struct EnrollmentCode: Sendable, Hashable, CustomStringConvertible {
    /// Crockford's base32 alphabet: no I, L, O or U.
    public static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    /// Characters in a code; 20 × 5 = 100 bits.
    public static let length = 20

    /// The 20 canonical characters.
    public let canonical: String

    /// A fresh code from the system CSPRNG.
    public static func random() -> EnrollmentCode {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt8(32)))] }
        return EnrollmentCode(canonical: String(characters))
    }

    private init(canonical: String) {
        self.canonical = canonical
    }

    /// Reads a code as a person typed it.
    ///
    /// - Returns: `nil` unless the text holds exactly 20 base32 characters (after dashes and spaces are dropped).
    public init?(_ text: String) {
        var characters: [Character] = []
        for character in text.uppercased() where character != "-" && character != " " {
            let mapped: Character =
                switch character {
                case "I", "L": "1"
                case "O": "0"
                default: character
                }
            guard Self.alphabet.contains(mapped) else { return nil }
            characters.append(mapped)
        }
        guard characters.count == Self.length else { return nil }
        canonical = String(characters)
    }

    /// Groups of four joined by dashes, for printing.
    public var description: String {
        stride(from: 0, to: Self.length, by: 4).map { start in
            let from = canonical.index(canonical.startIndex, offsetBy: start)
            return String(canonical[from..<canonical.index(from, offsetBy: 4)])
        }.joined(separator: "-")
    }

    /// What CUHK stores: SHA-256 of the canonical form.
    public var hash: [UInt8] { Array(SHA256.hash(data: Array(canonical.utf8))) }
}
