import CampusAuthority
import CampusPKI
import CampusSQLite
import CampusStudent
import Foundation
import Testing
import X509
import _CryptoExtras

/// `student renew` as a student runs it: twice at once, killed at every step, and followed by an enrollment.
@Suite(.serialized) struct RenewalProgramTests {
    /// The student's pair in `directory`: the key must be the certificate's, and CUHK must hold the certificate as
    /// good (not superseded, not revoked).
    static func expectWorkingPair(in directory: String, cuhk: String) async throws {
        let studentID = StudentID("1155123456")!
        let keyPEM = try #require(
            try SecureFile.readText(at: StudentCredentials.keyPath(for: studentID, in: directory)))
        let certificatePEM = try #require(
            try SecureFile.readText(at: StudentCredentials.certificatePath(for: studentID, in: directory)))
        let certificate = try Certificate(pemEncoded: certificatePEM)
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM)
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey), "the key is not the certificate's")
        let registry = try SQLiteAuthorityStore(
            path: SecureFile.join(cuhk, SQLiteAuthorityStore.fileName), checkWrites: false)
        guard case .good = try await registry.status(ofSerial: certificate.serialNumber.hex) else {
            Issue.record("CUHK does not hold \(certificate.serialNumber.hex) as good")
            return
        }
        let staged = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".new") }
        #expect(staged.isEmpty, "left behind: \(staged)")
    }

    static func enroll(_ servers: ServerProcesses, directory: String) async throws {
        let enrolled = try await Program.student.run(
            [
                "enroll", "--sid", "1155123456", "--ca", servers.cuhkAddress.description, "--dir", directory,
                "--root-cert", "cuhk.cer",
            ],
            in: servers.directory)
        #expect(enrolled.status == 0, "\(enrolled.all)")
    }

    static func renewArguments(_ servers: ServerProcesses, directory: String) -> [String] {
        [
            "renew", "--sid", "1155123456", "--ca", servers.cuhkAddress.description, "--dir", directory,
            "--root-cert", "cuhk.cer",
        ]
    }

    /// Two renewals at once used to fail with `link …key.<t>.old: file exists` after CUHK had replaced the
    /// certificate, leaving no usable credentials. They now take turns, and both succeed.
    @Test func twoRenewalsAtOnceLeaveAWorkingCredential() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        try await Self.enroll(servers, directory: "s")
        let arguments = Self.renewArguments(servers, directory: "s")
        let first = try Program.student.start(arguments, in: servers.directory)
        let second = try Program.student.start(arguments, in: servers.directory)
        let outcomes = [try await first.wait(), try await second.wait()]
        for outcome in outcomes { #expect(outcome.status == 0, "\(outcome.all)") }
        try await Self.expectWorkingPair(in: SecureFile.join(servers.directory, "s"), cuhk: servers.directory)
        let olds = try FileManager.default.contentsOfDirectory(atPath: SecureFile.join(servers.directory, "s"))
            .filter { $0.hasSuffix(".old") }
        #expect(olds.count == 2, "\(olds)")
    }

    /// Killed at any step of a renewal, the Student is left with a working key and certificate: the next run
    /// finishes what was cut (a lost answer is asked for again, and CUHK answers with the certificate it recorded).
    @Test func aRenewalKilledAtAnyStepLeavesAWorkingCredential() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        for step in CredentialFiles.Step.allCases {
            let directory = "at-\(step.rawValue)"
            try await Self.enroll(servers, directory: directory)
            let killed = try await Program.student.run(
                Self.renewArguments(servers, directory: directory), in: servers.directory,
                environment: ["CAMPUSPKI_CRASH_AT": step.rawValue])
            #expect(killed.killed && killed.status == SIGKILL, "\(step): \(killed.all)")
            let again = try await Program.student.run(
                [
                    "enroll", "--sid", "1155123456", "--ca", servers.cuhkAddress.description, "--dir", directory,
                    "--root-cert", "cuhk.cer",
                ],
                in: servers.directory)
            #expect(again.status == 0, "\(step): \(again.all)")
            if step == .stagedKey || step == .certificateReceived {
                #expect(again.output.contains("A renewal was cut short"), "\(step): \(again.output)")
            }
            try await Self.expectWorkingPair(in: SecureFile.join(servers.directory, directory), cuhk: servers.directory)
        }
    }

    /// A renewal cut after CUHK recorded it, then `student enroll` with a new code: the Student ends with a good
    /// certificate, never the superseded one.
    @Test func anEnrollmentAfterACutRenewalKeepsNoSupersededCertificate() async throws {
        let roster = try await RosterCUHK.start()
        defer { roster.stop() }
        _ = try await roster.code()
        let enroll = [
            "enroll", "--sid", "1155123456", "--ca", roster.address.description, "--dir", "s", "--root-cert",
            "cuhk.cer",
        ]
        #expect(try await Program.student.run(enroll + ["--code-file", "code.txt"], in: roster.directory).status == 0)
        let before = try Certificate(
            pemEncoded: try SecureFile.readText(at: SecureFile.join(roster.directory, "s/1155123456.cer")) ?? "")
        let killed = try await Program.student.run(
            [
                "renew", "--sid", "1155123456", "--ca", roster.address.description, "--dir", "s", "--root-cert",
                "cuhk.cer",
            ],
            in: roster.directory, environment: ["CAMPUSPKI_CRASH_AT": CredentialFiles.Step.certificateReceived.rawValue]
        )
        #expect(killed.killed)
        _ = try await roster.code(file: "new-code.txt")
        let again = try await Program.student.run(enroll + ["--code-file", "new-code.txt"], in: roster.directory)
        #expect(again.status == 0, "\(again.all)")
        try await Self.expectWorkingPair(in: SecureFile.join(roster.directory, "s"), cuhk: roster.directory)
        let after = try Certificate(
            pemEncoded: try SecureFile.readText(at: SecureFile.join(roster.directory, "s/1155123456.cer")) ?? "")
        #expect(after.serialNumber != before.serialNumber)
    }
}
