import Crypto
import Foundation

/// Step 6's protection of each message: ChaCha20-Poly1305 (RFC 8439) with one key per direction.
///
/// The nonce is the direction byte, three zero bytes and the 8-byte big-endian sequence number, so no nonce
/// repeats under a key. The associated data is the payload's version byte, its type byte and the sequence number:
/// a sealed acknowledgement cannot pass as a receipt, nor a message for another number. The 16-byte tag is the
/// seed's HMAC: it authenticates the content, and the content itself is encrypted.
public struct RecordProtection: Sendable {
    /// Who sealed a record.
    public enum Direction: UInt8, Sendable {
        case studentToBlackboard = 0x01
        case blackboardToStudent = 0x02
    }

    public let key: SymmetricKey
    public let direction: Direction

    public init(key: SymmetricKey, direction: Direction) {
        self.key = key
        self.direction = direction
    }

    /// The length of the nonce.
    static let nonceLength = 12

    /// The 12-byte nonce: direction ‖ 00 00 00 ‖ u64be(sequence).
    public static func nonce(direction: Direction, sequence: UInt64) -> [UInt8] {
        [direction.rawValue, 0, 0, 0] + sequence.bigEndianBytes
    }

    /// The associated data: version ‖ type ‖ u64be(sequence).
    public static func associatedData(kind: WireMessage.Kind, sequence: UInt64) -> [UInt8] {
        [WireMessage.protocolVersion, kind.rawValue] + sequence.bigEndianBytes
    }

    /// Ciphertext ‖ tag.
    public func seal(_ plaintext: some DataProtocol, kind: WireMessage.Kind, sequence: UInt64) -> [UInt8] {
        do {
            let box = try ChaChaPoly.seal(
                plaintext, using: key,
                nonce: try ChaChaPoly.Nonce(data: Self.nonce(direction: direction, sequence: sequence)),
                authenticating: Self.associatedData(kind: kind, sequence: sequence))
            // `combined` is nonce ‖ ciphertext ‖ tag: ciphertext ‖ tag in one copy.
            return Array(box.combined.dropFirst(Self.nonceLength))
        } catch {
            // A 12-byte nonce and a 32-byte key cannot be refused.
            preconditionFailure("ChaCha20-Poly1305 refused a well-formed nonce: \(error)")
        }
    }

    /// The plaintext, or `nil` when the tag does not verify for this type and sequence number.
    public func open(_ sealed: [UInt8], kind: WireMessage.Kind, sequence: UInt64) -> [UInt8]? {
        guard sealed.count >= WireMessage.tagLength,
            let nonce = try? ChaChaPoly.Nonce(data: Self.nonce(direction: direction, sequence: sequence)),
            let box = try? ChaChaPoly.SealedBox(
                nonce: nonce, ciphertext: sealed.dropLast(WireMessage.tagLength),
                tag: sealed.suffix(WireMessage.tagLength))
        else { return nil }
        guard
            let plaintext = try? ChaChaPoly.open(
                box, using: key, authenticating: Self.associatedData(kind: kind, sequence: sequence))
        else { return nil }
        return Array(plaintext)
    }
}

extension UInt64 {
    /// The 8 bytes, most significant first.
    public var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) }
    }
}
