import CampusPKI
import Foundation
import SwiftASN1
import Testing

@Suite struct EncodingTests {
    /// Every length of a 3-byte base64 group and of a 48-byte PEM line, and certificate-sized documents.
    @Test(arguments: Array(0...200) + [1_399, 1_400, 1_401, 4_096])
    func pemTextIsSwiftASN1sPEMString(length: Int) {
        var generator = SystemRandomNumberGenerator()
        let der = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let document = PEMDocument(type: "CERTIFICATE", derBytes: der)
        #expect(document.text == document.pemString)
    }

    @Test func hexStringIsLowerCaseTwoDigitsAByte() {
        #expect([UInt8]().hexString == "")
        #expect([0x00, 0x0f, 0x10, 0xab, 0xff].hexString == "000f10abff")
        let all = (0...255).map { UInt8($0) }
        #expect(all.hexString == all.map { String(format: "%02x", $0) }.joined())
    }

    @Test func randomBytesHaveTheAskedLength() {
        for count in [0, 1, 7, 8, 9, 32, 48, 100] {
            #expect(SessionKeySchedule.randomBytes(count).count == count)
        }
        // Two draws of 32 bytes are equal with probability 2^-256.
        #expect(SessionKeySchedule.randomBytes(32) != SessionKeySchedule.randomBytes(32))
    }
}
