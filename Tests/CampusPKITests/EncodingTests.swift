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

    @Test func fingerprintsAreUpperCaseHexPairsJoinedByColons() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<64 {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = bytes.map { String(format: "%02X", $0) }.joined(separator: ":")
            let fingerprint = try #require(RootFingerprint(text.lowercased()))
            #expect(fingerprint.description == text)
        }
    }

    /// CampusPKI's own PEM text takes the quick path; any other text gets swift-asn1's parser and its result.
    @Test(arguments: [1, 47, 48, 49, 300, 1_400])
    func pemParseGivesWhatSwiftASN1Gives(length: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let der = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let canonical = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).text
        let texts = [
            canonical, canonical + "\n", canonical.replacingOccurrences(of: "\n", with: "\r\n"),
            "leading text\n" + canonical,
        ]
        for text in texts {
            let parsed = try PEMDocument.parse(text, expecting: "CERTIFICATE REQUEST")
            let reference = try PEMDocument(pemString: text)
            #expect(parsed.discriminator == reference.discriminator)
            #expect(parsed.derBytes == reference.derBytes)
            #expect(parsed.derBytes == der)
        }
        // Another label than the expected one is read by swift-asn1's parser, label and all.
        let other = try PEMDocument.parse(canonical, expecting: "CERTIFICATE")
        #expect(other.discriminator == "CERTIFICATE REQUEST")
        #expect(other.derBytes == der)
        #expect(throws: (any Error).self) {
            try PEMDocument.parse(String(canonical.dropLast(5)), expecting: "CERTIFICATE REQUEST")
        }
        // An empty body is refused, as swift-asn1 refuses it.
        #expect(throws: (any Error).self) {
            try PEMDocument.parse(
                PEMDocument(type: "CERTIFICATE REQUEST", derBytes: []).text, expecting: "CERTIFICATE REQUEST")
        }
    }

    @Test func randomBytesHaveTheAskedLength() {
        for count in [0, 1, 7, 8, 9, 32, 48, 100] {
            #expect(SessionKeySchedule.randomBytes(count).count == count)
        }
        // Two draws of 32 bytes are equal with probability 2^-256.
        #expect(SessionKeySchedule.randomBytes(32) != SessionKeySchedule.randomBytes(32))
    }
}
