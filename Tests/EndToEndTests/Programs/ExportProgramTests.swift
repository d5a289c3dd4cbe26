import CampusPKI
import Foundation
import Testing

/// What a student uploads comes back from `blackboard export` byte for byte, under its name.
@Suite(.serialized) struct ExportProgramTests {
    static let text = Array("First line\r\nSecond line, é 学\n\n\tindented\nno line break at the end".utf8)

    @Test func aTextFileComesBackByteIdenticalWithItsName() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        try SecureFile.write(
            Self.text, to: SecureFile.join(servers.directory, "notes.txt"), mode: 0o644, replacing: false)
        let upload = try await Program.student.run(
            ["--sid", "1155123456", "--file", "notes.txt"] + servers.studentArguments, in: servers.directory)
        #expect(upload.status == 0, "\(upload.all)")

        let all = try await Program.blackboard.run(["export", "--all", "--out", "exports"], in: servers.directory)
        #expect(all.status == 0, "\(all.all)")
        let exported = SecureFile.join(servers.directory, "exports/report/1155123456/report-1-notes.txt")
        #expect(FileManager.default.contents(atPath: exported).map(Array.init) == Self.text, "\(all.all)")
        #expect(all.output.contains("notes.txt, text/plain"))

        // One report into an existing directory: the same name.
        try SecureFile.createDirectory(SecureFile.join(servers.directory, "one"))
        let one = try await Program.blackboard.run(["export", "1", "--out", "one"], in: servers.directory)
        #expect(one.status == 0, "\(one.all)")
        #expect(
            FileManager.default.contents(atPath: SecureFile.join(servers.directory, "one/report-1-notes.txt"))
                .map(Array.init) == Self.text)
        let shown = try await Program.blackboard.run(["show", "1"], in: servers.directory)
        #expect(shown.output.contains("file:               notes.txt"), "\(shown.output)")
        #expect(shown.output.contains("content type:       text/plain"))
    }

    /// Lines from standard input keep their line breaks: the report is the input, byte for byte.
    @Test func linesFromStandardInputKeepTheirLineBreaks() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let input = "This is No.1 Message.\nThis is No.2 Message.\r\n\nlast line\n"
        let upload = try await Program.student.run(
            ["--sid", "1155123456"] + servers.studentArguments, in: servers.directory, input: input)
        #expect(upload.status == 0, "\(upload.all)")
        // The seed's lines still show each message as its text.
        #expect(upload.output.contains("[Step 6] Send #1: This is No.1 Message.\n"), "\(upload.output)")
        #expect(upload.output.contains("Receipt: report 1, 4 messages, \(input.utf8.count) bytes"))
        let export = try await Program.blackboard.run(["export", "1", "--out", "report-1.txt"], in: servers.directory)
        #expect(export.status == 0, "\(export.all)")
        #expect(
            FileManager.default.contents(atPath: SecureFile.join(servers.directory, "report-1.txt")).map(Array.init)
                == Array(input.utf8))
    }
}
