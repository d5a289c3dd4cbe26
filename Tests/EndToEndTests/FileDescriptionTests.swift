import CampusPKI
import CampusStudent
import Testing

/// What the Student says of the file a report comes from.
@Suite struct FileDescriptionTests {
    @Test func theFilesOwnNameAndAGuessedType() {
        let file = FileDescription.of(
            .file(path: "/home/me/Reports/Week 1 – notes.md", pieceSize: 10), contentType: nil)
        #expect(file.name == "Week 1 – notes.md" && file.contentType == "text/markdown")
        #expect(
            FileDescription.of(.file(path: "a/b/report.PDF", pieceSize: 1), contentType: nil).contentType
                == "application/pdf")
        #expect(
            FileDescription.of(.file(path: "data.unknown", pieceSize: 1), contentType: nil).contentType
                == "application/octet-stream")
        #expect(
            FileDescription.of(.file(path: "x.bin", pieceSize: 1), contentType: "image/png").contentType == "image/png")
        let lines = FileDescription.of(.standardInput, contentType: nil)
        #expect(lines.name.isEmpty && lines.contentType == "text/plain")
    }

    @Test(arguments: [
        ("report:final?.txt", "report_final_.txt"), (".bashrc", "_bashrc"), ("a..b", "a._b"), ("end.", "end_"),
        ("tab\there", "tab_here"), ("rtl\u{202E}txt.exe", "rtl_txt.exe"), ("...", "___"),
    ])
    func namesBlackboardWouldRefuseAreMadeAcceptable(_ pair: (String, String)) {
        let sent = FileDescription.sendableName(pair.0)
        #expect(sent == pair.1)
        #expect(SubmittedFile.isValidName(sent))
    }
}
