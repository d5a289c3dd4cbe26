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
    /// The length of the associated data.
    static let associatedDataLength = 10

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
            let box = try withNonceAndAssociatedData(kind: kind, sequence: sequence) { nonce, associatedData in
                try ChaChaPoly.seal(
                    plaintext, using: key, nonce: try ChaChaPoly.Nonce(data: nonce), authenticating: associatedData)
            }
            // `combined` is nonce ‖ ciphertext ‖ tag: ciphertext ‖ tag in one copy.
            return box.combined.withUnsafeBytes { Array($0[Self.nonceLength...]) }
        } catch {
            // A 12-byte nonce and a 32-byte key cannot be refused.
            preconditionFailure("ChaCha20-Poly1305 refused a well-formed nonce: \(error)")
        }
    }

    /// The plaintext, or `nil` when the tag does not verify for this type and sequence number.
    public func open(_ sealed: [UInt8], kind: WireMessage.Kind, sequence: UInt64) -> [UInt8]? {
        guard sealed.count >= WireMessage.tagLength else { return nil }
        let plaintext = withNonceAndAssociatedData(kind: kind, sequence: sequence) { nonce, associatedData -> Data? in
            // The box as swift-crypto keeps it, nonce ‖ ciphertext ‖ tag, in one buffer and one copy.
            var combined = Data(capacity: Self.nonceLength + sealed.count)
            combined.append(contentsOf: nonce)
            combined.append(contentsOf: sealed)
            guard let box = try? ChaChaPoly.SealedBox(combined: combined) else { return nil }
            return try? ChaChaPoly.open(box, using: key, authenticating: associatedData)
        }
        return plaintext?.withUnsafeBytes { Array($0) }
    }

    /// Runs `body` with the nonce (``nonce(direction:sequence:)``) and the associated data
    /// (``associatedData(kind:sequence:)``) of a record, built on the stack: no allocation for either.
    private func withNonceAndAssociatedData<Result>(
        kind: WireMessage.Kind, sequence: UInt64,
        _ body: (_ nonce: UnsafeRawBufferPointer, _ associatedData: UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        let length = Self.nonceLength + Self.associatedDataLength
        return try withUnsafeTemporaryAllocation(byteCount: length, alignment: 8) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer[0] = direction.rawValue
            buffer.storeBytes(of: sequence.bigEndian, toByteOffset: 4, as: UInt64.self)
            buffer[Self.nonceLength] = WireMessage.protocolVersion
            buffer[Self.nonceLength + 1] = kind.rawValue
            buffer.storeBytes(of: sequence.bigEndian, toByteOffset: Self.nonceLength + 2, as: UInt64.self)
            return try body(
                UnsafeRawBufferPointer(rebasing: buffer[..<Self.nonceLength]),
                UnsafeRawBufferPointer(rebasing: buffer[Self.nonceLength...]))
        }
    }
}

extension UInt64 {
    /// The 8 bytes, most significant first.
    public var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) }
    }
}
