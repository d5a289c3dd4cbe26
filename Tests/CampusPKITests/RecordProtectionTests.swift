import CampusPKI
import Crypto
import Testing

/// Step 6's record protection: what opens, and everything that must not (the vectors in ProtocolVectorTests fix the
/// exact bytes).
@Suite struct RecordProtectionTests {
    let key = SymmetricKey(size: .bits256)

    @Test(arguments: [0, 1, 15, 16, 17, 64, 4096, 65536])
    func aSealedRecordOpensToItsContent(size: Int) {
        let protection = RecordProtection(key: key, direction: .studentToBlackboard)
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let sealed = protection.seal(content, kind: .reportMessage, sequence: 42)
        #expect(sealed.count == size + WireMessage.tagLength)
        if size >= 16 {
            #expect(!sealed.dropLast(WireMessage.tagLength).elementsEqual(content), "the content is encrypted")
        }
        #expect(protection.open(sealed, kind: .reportMessage, sequence: 42) == content)
    }

    @Test func theNonceAndAssociatedDataAreTheDocumentedOnes() throws {
        // The record sealed by hand with swift-crypto from the documented nonce and associated data.
        let protection = RecordProtection(key: key, direction: .blackboardToStudent)
        let sequence: UInt64 = 0x0102_0304_0506_0708
        let box = try ChaChaPoly.seal(
            [1, 2, 3], using: key,
            nonce: try ChaChaPoly.Nonce(
                data: RecordProtection.nonce(direction: .blackboardToStudent, sequence: sequence)),
            authenticating: RecordProtection.associatedData(kind: .receipt, sequence: sequence))
        #expect(protection.seal([1, 2, 3], kind: .receipt, sequence: sequence) == Array(box.ciphertext + box.tag))
        #expect(protection.open(Array(box.ciphertext + box.tag), kind: .receipt, sequence: sequence) == [1, 2, 3])
    }

    @Test func anythingElseDoesNotOpen() {
        let sealer = RecordProtection(key: key, direction: .studentToBlackboard)
        let sealed = sealer.seal(Array("report".utf8), kind: .reportMessage, sequence: 7)
        #expect(sealer.open(sealed, kind: .reportMessage, sequence: 8) == nil, "another sequence number")
        #expect(sealer.open(sealed, kind: .endOfReport, sequence: 7) == nil, "another type")
        let otherDirection = RecordProtection(key: key, direction: .blackboardToStudent)
        #expect(otherDirection.open(sealed, kind: .reportMessage, sequence: 7) == nil, "the other direction")
        let otherKey = RecordProtection(key: SymmetricKey(size: .bits256), direction: .studentToBlackboard)
        #expect(otherKey.open(sealed, kind: .reportMessage, sequence: 7) == nil, "another key")
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(sealer.open(tampered, kind: .reportMessage, sequence: 7) == nil, "byte \(index) flipped")
        }
        #expect(sealer.open(Array(sealed.dropLast()), kind: .reportMessage, sequence: 7) == nil, "shortened")
        #expect(sealer.open(Array(sealed.prefix(WireMessage.tagLength - 1)), kind: .reportMessage, sequence: 7) == nil)
        #expect(sealer.open([], kind: .reportMessage, sequence: 7) == nil, "empty")
    }
}
