import NIOCore
import Testing

@testable import CampusPKI

/// The file name and content type the Student sends sealed at the end of a report: checked, length-limited, and
/// never a path.
@Suite struct SubmittedFileTests {
    @Test(arguments: [
        "notes.txt", "Report final (v2).pdf", "résumé – 学生.md", "a", "x.tar.gz", "2026-12-01 report.docx", "€uro$.txt",
        String(repeating: "é", count: 127),
    ])
    func acceptableNames(_ name: String) {
        #expect(SubmittedFile.isValidName(name))
    }

    @Test(arguments: [
        "", "../etc/passwd", "dir/notes.txt", "a\\b", "..", ".", ".hidden", "notes.txt.", " notes", "notes ",
        "a..b", "line\nbreak", "tab\there", "nul\u{0}", "del\u{7F}", "c1\u{85}", "evil\u{202E}txt.exe",
        "zero\u{200B}width",
        "C:drive", "what?", "star*", "quote\"", "<tag>", "pipe|", String(repeating: "é", count: 128),
        String(repeating: "a", count: 256),
    ])
    func refusedNames(_ name: String) {
        #expect(!SubmittedFile.isValidName(name))
    }

    @Test func contentTypes() {
        for good in [
            "text/plain", "application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "image/svg+xml",
        ] {
            #expect(SubmittedFile.isValidContentType(good), "\(good)")
        }
        for bad in [
            "text", "text/", "/plain", "text/plain; charset=utf-8", "text/pl ain", "a/b/c", "tëxt/plain", "-x/y",
        ] {
            #expect(!SubmittedFile.isValidContentType(bad), "\(bad)")
        }
    }

    @Test func thePlaintextIsTwoFields() throws {
        let file = try SubmittedFile(name: "notes.txt", contentType: "text/plain")
        #expect(file.plaintext == [0, 0, 0, 9] + Array("notes.txt".utf8) + [0, 0, 0, 10] + Array("text/plain".utf8))
        #expect(try SubmittedFile.decode(plaintext: file.plaintext) == file)
        // An empty plaintext is a report without a file description, as before.
        #expect(try SubmittedFile.decode(plaintext: []) == nil)
    }

    @Test func aBadPlaintextIsAMalformedMessage() {
        func code(_ plaintext: [UInt8]) -> CampusError.Code? {
            do {
                _ = try SubmittedFile.decode(plaintext: plaintext)
                return nil
            } catch {
                return error.code
            }
        }
        let name = Array("../x".utf8)
        #expect(code([0, 0, 0, UInt8(name.count)] + name + [0, 0, 0, 0]) == .malformedMessage)
        #expect(code([0, 0, 0, 1, 0x41]) == .malformedMessage)  // the content type is missing
        #expect(code([0, 0, 0, 1, 0x41, 0, 0, 0, 0, 9]) == .malformedMessage)  // a byte after the fields
        #expect(code([0, 0, 0, 2, 0xff, 0xfe, 0, 0, 0, 0]) == .malformedMessage)  // not UTF-8
        #expect(code([0, 0, 0, 1, 0x41, 0, 0, 0, 4] + Array("text".utf8)) == .malformedMessage)
        #expect(code([UInt8](repeating: 0, count: 400)) == .malformedMessage)  // too long
    }
}
