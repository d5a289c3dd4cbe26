import CampusPKI
import Foundation
import Testing

/// Session version 2 through the programs, as README shows it.
@Suite(.serialized) struct SessionProgramTests {
    /// `student --assignment a1 --message hello` saves a receipt that `student verify-receipt` and OpenSSL accept;
    /// one flipped byte makes both refuse it.
    @Test func aSavedReceiptVerifiesWithTheStudentAndWithOpenSSL() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let added = try await Program.blackboard.run(
            ["assignment", "add", "a1", "--deadline", "2099-12-31T23:59:59Z"], in: servers.directory)
        #expect(added.status == 0, "\(added.all)")
        let upload = try await Program.student.run(
            ["--sid", "1155123456", "--assignment", "a1", "--message", "hello"] + servers.studentArguments,
            in: servers.directory)
        #expect(upload.status == 0, "\(upload.all)")
        #expect(upload.output.contains("Blackboard authenticated: CUHK issued its certificate for blackboard"))
        #expect(upload.output.contains("Signed receipt saved: ./receipts/a1-1.p7s"))
        #expect(upload.output.contains("  deadline            2099-12-31T23:59:59Z"))
        #expect(upload.output.contains("  status              on-time"))
        let path = SecureFile.join(servers.directory, "receipts/a1-1.p7s")

        let verified = try await Program.student.run(["verify-receipt", "receipts/a1-1.p7s"], in: servers.directory)
        #expect(verified.status == 0, "\(verified.all)")
        #expect(verified.output.contains("Receipt verified: signed by blackboard"))
        let withContent = try await Program.student.run(
            ["verify-receipt", "receipts/a1-1.p7s", "--content", "hello.txt"], in: servers.directory,
            environment: [:])
        #expect(withContent.status != 0)  // no such file yet
        try SecureFile.write(
            Array("hello".utf8), to: SecureFile.join(servers.directory, "hello.txt"), mode: 0o644, replacing: false)
        let matching = try await Program.student.run(
            ["verify-receipt", "receipts/a1-1.p7s", "--content", "hello.txt"], in: servers.directory)
        #expect(matching.status == 0 && matching.output.contains("content matches"), "\(matching.all)")

        let openssl = try Self.openSSL(["-in", path, "-CAfile", SecureFile.join(servers.directory, "cuhk.cer")])
        #expect(openssl.status == 0 && openssl.output.contains("assignment: a1\n"), "\(openssl.output)")

        var bytes = try #require(FileManager.default.contents(atPath: path)).map { $0 }
        let offset = try #require(bytes.firstRange(of: Array("status: ".utf8))).upperBound
        bytes[offset] ^= 0x01
        let flipped = SecureFile.join(servers.directory, "flipped.p7s")
        try SecureFile.write(bytes, to: flipped, mode: 0o644, replacing: false)
        let refused = try await Program.student.run(["verify-receipt", "flipped.p7s"], in: servers.directory)
        #expect(refused.status == 8, "\(refused.all)")
        #expect(
            try Self.openSSL(["-in", flipped, "-CAfile", SecureFile.join(servers.directory, "cuhk.cer")]).status != 0)

        let listed = try await Program.blackboard.run(["reports", "--assignment", "a1"], in: servers.directory)
        #expect(listed.output.contains("1155123456  1       "), "\(listed.output)")
        #expect(listed.output.contains("on time"))
    }

    /// A Blackboard whose certificate CUHK did not issue: the Student exits 7 naming the check, and Blackboard sees
    /// nothing of the report.
    @Test func aBlackboardCertificateFromAnotherCUHKStopsTheStudent() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        // Another CUHK, and a Blackboard using the certificate that one issued.
        let elsewhere = try temporaryDirectory()
        #expect(try await Program.cuhk.run(["init"], in: elsewhere).status == 0)
        #expect(try await Program.cuhk.run(["service", "issue", "--out", "bb"], in: elsewhere).status == 0)
        let impostor = try Program.blackboard.start(
            [
                "--port", "0", "--dir", "bb", "--root-cert", SecureFile.join(servers.directory, "cuhk.cer"),
            ], in: elsewhere)
        defer { impostor.signal(SIGKILL) }
        let address = try await impostor.address()
        let upload = try await Program.student.run(
            [
                "--sid", "1155123456", "--message", "the secret report", "--ca", servers.cuhkAddress.description,
                "--blackboard", address.description,
            ], in: servers.directory)
        #expect(upload.status == 7, "\(upload.all)")
        #expect(upload.errorOutput.contains("Blackboard failed the issuer check"), "\(upload.errorOutput)")
        #expect(upload.errorOutput.contains("before any of the report was sent"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(!impostor.output.contains("receive from"))
        #expect(!impostor.output.contains("Session secure"))
    }

    /// `openssl cms -verify` with the options README gives.
    static func openSSL(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try OpenSSL.run(["cms", "-verify", "-inform", "DER", "-purpose", "any"] + arguments)
    }
}
