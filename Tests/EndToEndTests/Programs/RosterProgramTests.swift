import CampusPKI
import Foundation
import Testing

/// The roster way, run as an operator and students would.
@Suite struct RosterProgramTests {
    /// The file Excel saves as "CSV UTF-8": a byte order mark, CRLF, quoted cells, the header as typed.
    @Test func aRosterSavedByASpreadsheetImportsAtCUHKAndBlackboard() async throws {
        let directory = try temporaryDirectory()
        let csv =
            [0xEF, 0xBB, 0xBF]
            + Array(
                "SID,Name,Email\r\n1155123456,\"Chan, Tai Man\",tm@example.edu\r\n1155000002,Lee Siu Ming,\r\n,,\r\n"
                    .utf8)
        try SecureFile.write(csv, to: SecureFile.join(directory, "excel.csv"), mode: 0o644, replacing: false)
        let cuhk = try await Program.cuhk.run(["roster", "import", "excel.csv"], in: directory)
        #expect(cuhk.status == 0 && cuhk.output.contains("2 students added"), "\(cuhk.all)")
        let list = try await Program.cuhk.run(["roster", "list", "--json"], in: directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        #expect(rows.compactMap { $0["name"] as? String }.sorted() == ["Chan, Tai Man", "Lee Siu Ming"])
        let blackboard = try await Program.blackboard.run(["roster", "import", "excel.csv"], in: directory)
        #expect(blackboard.status == 0 && blackboard.output.contains("Imported 2 students"), "\(blackboard.all)")
    }

    @Test func importIssueEnrollRevoke() async throws {
        let directory = try temporaryDirectory()
        try SecureFile.write(
            "sid,name\n1155123456,Chan Tai Man\n11551234,Short\n1155000002,\n",
            to: SecureFile.join(directory, "bad.csv"),
            mode: 0o644, replacing: false)
        let bad = try await Program.cuhk.run(["roster", "import", "bad.csv"], in: directory)
        #expect(bad.status == 1)
        #expect(bad.errorOutput.contains("line 3: \"11551234\""))
        #expect(bad.errorOutput.contains("line 4: SID 1155000002 has no name"))
        try SecureFile.write(
            "sid,name,email\n1155123456,Chan Tai Man,tm@example.edu\n1155000002,Lee Siu Ming,\n",
            to: SecureFile.join(directory, "roster.csv"), mode: 0o644, replacing: false)
        let good = try await Program.cuhk.run(["roster", "import", "roster.csv"], in: directory)
        #expect(good.status == 0 && good.output.contains("2 students added"))

        let cuhk = try Program.cuhk.start(Program.patientCUHK + ["--port", "0", "--ocsp-port", "0"], in: directory)
        defer { cuhk.signal(SIGKILL) }
        let address = try await cuhk.address().description
        let codes = try await Program.cuhk.run(["codes", "issue", "--all-unenrolled", "--json"], in: directory)
        let slips = try #require(try JSONSerialization.jsonObject(with: Data(codes.output.utf8)) as? [[String: Any]])
        #expect(slips.count == 2)
        let code = try #require(slips.first { $0["sid"] as? String == "1155123456" }?["code"] as? String)

        let enroll = ["enroll", "--sid", "1155123456", "--ca", address, "--root-cert", "cuhk.cer"]
        let without = try await Program.student.run(enroll + ["--dir", "a"], in: directory)
        #expect(without.status == 3 && without.errorOutput.contains("[enrollment-denied]"))
        try SecureFile.write(code + "\n", to: SecureFile.join(directory, "code.txt"), mode: 0o600, replacing: false)
        let with = try await Program.student.run(enroll + ["--dir", "a", "--code-file", "code.txt"], in: directory)
        #expect(with.status == 0 && with.output.contains("SID: 1155123456 sign finished."), "\(with.all)")
        let again = try await Program.student.run(enroll + ["--dir", "b", "--code-file", "code.txt"], in: directory)
        #expect(again.status == 3 && again.errorOutput.contains("[code-used]"))

        let list = try await Program.cuhk.run(["roster", "list", "--json"], in: directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        #expect(rows.first { $0["sid"] as? String == "1155123456" }?["enrollment"] as? String == "enrolled")
        #expect(rows.first { $0["sid"] as? String == "1155000002" }?["code"] as? String == "active")

        let revoke = try await Program.cuhk.run(
            ["revoke", "--sid", "1155123456", "--reason", "keyCompromise"], in: directory)
        #expect(revoke.status == 0 && revoke.output.contains("1 certificate revoked"))
        let issued = try await Program.cuhk.run(["issued", "--json"], in: directory)
        let certificates = try #require(
            try JSONSerialization.jsonObject(with: Data(issued.output.utf8)) as? [[String: Any]])
        #expect(certificates.map { $0["status"] as? String } == ["revoked"])
        #expect(certificates.first?["revocation_reason"] as? String == "keyCompromise")
    }
}
