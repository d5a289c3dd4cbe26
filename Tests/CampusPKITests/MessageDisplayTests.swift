import CampusPKI
import Testing

@Suite struct MessageDisplayTests {
    @Test func showsShortTextAsIs() {
        #expect(MessageDisplay.text(Array("This is No.1 Message.".utf8)) == "This is No.1 Message.")
        #expect(MessageDisplay.text(Array("學生 報告".utf8)) == "學生 報告")
    }

    @Test func showsBinaryAsItsSize() {
        #expect(MessageDisplay.text([0, 1, 2]) == "<3 bytes>")
        #expect(MessageDisplay.text([0xff, 0xfe]) == "<2 bytes>")
        #expect(MessageDisplay.text(Array("line\nbreak".utf8)) == "<10 bytes>")
    }

    /// A line from standard input keeps its line break; the line is shown without it, and only one is dropped.
    @Test func oneLineBreakAtTheEndIsNotShown() {
        #expect(MessageDisplay.text(Array("This is No.1 Message.\n".utf8)) == "This is No.1 Message.")
        #expect(MessageDisplay.text(Array("typed at a terminal\r\n".utf8)) == "typed at a terminal")
        #expect(MessageDisplay.text(Array("\n".utf8)) == "")
        #expect(MessageDisplay.text(Array("two\n\n".utf8)) == "<5 bytes>")
        #expect(MessageDisplay.text(Array("bare\r".utf8)) == "<5 bytes>")
    }

    @Test func cutsLongTextEvenInsideAMultiByteCharacter() {
        let long = String(repeating: "報", count: 1000)  // 3 bytes each; the 800-byte cut falls inside one
        let shown = MessageDisplay.text(Array(long.utf8))
        #expect(shown == String(repeating: "報", count: 200) + "… (3000 bytes)")
        let ascii = MessageDisplay.text(Array(repeating: UInt8(ascii: "a"), count: 1 << 20))
        #expect(ascii == String(repeating: "a", count: 200) + "… (1048576 bytes)")
    }

    /// Printable ASCII is decided on its bytes; what it shows must be what the Unicode path shows.
    @Test func asciiTextIsShownAsTheUnicodePathWouldShowIt() {
        let twoHundred = String(repeating: "a", count: 200)
        #expect(MessageDisplay.text(Array(twoHundred.utf8)) == twoHundred)
        #expect(MessageDisplay.text(Array((twoHundred + "\n").utf8)) == twoHundred)
        #expect(MessageDisplay.text(Array((twoHundred + "b").utf8)) == twoHundred + "… (201 bytes)")
        #expect(MessageDisplay.text(Array("a\ttab".utf8)) == "a\ttab")
        #expect(MessageDisplay.text(Array("back\\slash ~ and DEL\u{7F}".utf8)) == "<21 bytes>")
        // The same text with one character beyond ASCII takes the Unicode path, and shows the same way.
        #expect(MessageDisplay.text(Array((twoHundred + "é").utf8)) == twoHundred + "… (202 bytes)")
        #expect(MessageDisplay.text(Array("a\ttab é".utf8)) == "a\ttab é")
    }

    /// Terminal lines: printable ASCII without a backslash is returned as it is; anything else is escaped as before.
    @Test func escapingDecidesPrintableASCIIOnItsBytes() {
        let printable = String((0x20..<0x7F).map { Character(Unicode.Scalar(UInt8($0))) }.filter { $0 != "\\" })
        #expect(ControlCharacters.escaped(printable) == printable)
        #expect(ControlCharacters.escaped("a\tb") == "a\\tb")
        #expect(ControlCharacters.escaped("DEL\u{7F}") == "DEL\\u{7F}")
        #expect(ControlCharacters.escaped("C1\u{85}") == "C1\\u{85}")
        #expect(ControlCharacters.escaped("é and \\") == "é and \\\\")
        #expect(ControlCharacters.escaped("") == "")
    }
}
