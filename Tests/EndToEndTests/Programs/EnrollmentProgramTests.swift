import CampusAuthority
import CampusPKI
import Foundation
import Testing
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// Where the Student reads its code from, and which root it holds CUHK to, as a student runs it.
@Suite struct EnrollmentProgramTests {
    @Test func theCodeIsNeverTakenFromTheCommandLine() async throws {
        let directory = try temporaryDirectory()
        let refused = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--code", "7K3Q-M9XA-2C4R-TV8H-N5PW"], in: directory)
        #expect(refused.status == 64)
        #expect(refused.errorOutput.contains("--code is no longer accepted"))
        #expect(refused.errorOutput.contains("--code-file"))
        let help = try await Program.cuhk.run(["codes", "issue", "--help"], in: directory)
        #expect(!help.output.contains("student --code"))
    }

    /// A code of the wrong form is refused before anything is sent: here CUHK's address is a closed port, and the
    /// Student stops with a local error (1), not a network one (5).
    @Test func aMistypedCodeNeverReachesCUHK() async throws {
        let directory = try temporaryDirectory()
        try SecureFile.write(
            "ABCD-EFGH-JKMN-PQRS\n", to: SecureFile.join(directory, "short"), mode: 0o600, replacing: false)
        let short = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--ca", "127.0.0.1:1", "--code-file", "short"], in: directory)
        #expect(short.status == 1, "\(short.all)")
        #expect(short.errorOutput.contains("16 characters") && short.errorOutput.contains("20 letters and digits"))
        #expect(!short.errorOutput.contains("ABCD"))
        let piped = try await Program.student.run(
            ["enroll", "--ca", "127.0.0.1:1", "--code-file", "-"], in: directory, input: "1155123456\nU0U0-0000\n")
        #expect(piped.status == 1, "\(piped.all)")
        #expect(piped.errorOutput.contains("from standard input is not a code"))
    }

    /// `--code-file -`: the student ID's line, then the code's, then the report's messages.
    @Test func aCodeOnStandardInputComesBetweenTheStudentIDAndTheMessages() async throws {
        let roster = try await RosterCUHK.start()
        defer { roster.stop() }
        let blackboard = try Program.blackboard.start(
            Program.patientBlackboard + ["--port", "0"], in: roster.directory)
        defer { blackboard.signal(SIGKILL) }
        let blackboardAddress = try await blackboard.address()
        let code = try await roster.code()
        let run = try await Program.student.run(
            [
                "--ca", roster.address.description, "--blackboard", blackboardAddress.description, "--code-file", "-",
                "--dir", "s", "--root-fingerprint", try roster.rootFingerprint,
            ],
            in: roster.directory, input: "1155123456\n\(code.lowercased())\nHello\nWorld\n")
        #expect(run.status == 0, "\(run.all)")
        #expect(run.output.contains("SID: 1155123456 sign finished."))
        // Each line is sent with its line break.
        #expect(run.output.contains("Receipt: report 1, 2 messages, 12 bytes"))
        #expect(!run.all.contains(code))
        #expect(try await roster.codeState() == "used")
    }

    /// `--root-fingerprint` pins CUHK's root; a wrong one is found in CUHK's signed offer, before the code is used.
    @Test func theRootFingerprintIsCheckedBeforeTheCodeIsUsed() async throws {
        let roster = try await RosterCUHK.start()
        defer { roster.stop() }
        _ = try await roster.code()
        let enroll = ["enroll", "--sid", "1155123456", "--ca", roster.address.description, "--code-file", "code.txt"]
        let wrong = try await Program.student.run(
            enroll + ["--dir", "w", "--root-fingerprint", String(repeating: "ab", count: 32)], in: roster.directory)
        #expect(wrong.status == 6, "\(wrong.all)")
        #expect(wrong.errorOutput.contains("CUHK failed the root check"))
        #expect(wrong.errorOutput.contains("no enrollment code was used"))
        #expect(!SecureFile.exists(SecureFile.join(roster.directory, "w/cuhk.cer")))
        #expect(try await roster.codeState() == "active")

        let fingerprint = try roster.rootFingerprint.replacingOccurrences(of: ":", with: "").lowercased()
        let right = try await Program.student.run(
            enroll + ["--dir", "r", "--root-fingerprint", fingerprint], in: roster.directory)
        #expect(right.status == 0, "\(right.all)")
        #expect(right.output.contains("CUHK's root matches --root-fingerprint"))
        #expect(
            try SecureFile.readText(at: SecureFile.join(roster.directory, "r/cuhk.cer"))
                == (try SecureFile.readText(at: SecureFile.join(roster.directory, "cuhk.cer"))))
        let bad = try await Program.student.run(enroll + ["--root-fingerprint", "12:34"], in: roster.directory)
        #expect(bad.status == 64 && bad.errorOutput.contains("64 hexadecimal digits"))
    }

    /// A student whose directory holds another CUHK's root (a stale cuhk.cer) learns it before the code is sent, and
    /// how to recover; the code still works afterwards.
    @Test func aStaleRootIsFoundBeforeTheCodeIsSpent() async throws {
        let roster = try await RosterCUHK.start()
        defer { roster.stop() }
        _ = try await roster.code()
        #expect(try await Program.cuhk.run(["init", "--dir", "old"], in: roster.directory).status == 0)
        try SecureFile.createDirectory(SecureFile.join(roster.directory, "s"))
        try SecureFile.write(
            try SecureFile.readText(at: SecureFile.join(roster.directory, "old/cuhk.cer")) ?? "",
            to: SecureFile.join(roster.directory, "s/cuhk.cer"), mode: 0o644, replacing: false)
        let enroll = [
            "enroll", "--sid", "1155123456", "--ca", roster.address.description, "--code-file", "code.txt", "--dir",
            "s",
        ]
        let stale = try await Program.student.run(enroll, in: roster.directory)
        #expect(stale.status == 6, "\(stale.all)")
        #expect(stale.errorOutput.contains("mv s/cuhk.cer s/cuhk.cer.old"))
        #expect(stale.errorOutput.contains("--root-fingerprint"))
        #expect(stale.errorOutput.contains("no enrollment code was used"))
        #expect(try await roster.codeState() == "active")

        try FileManager.default.moveItem(
            atPath: SecureFile.join(roster.directory, "s/cuhk.cer"),
            toPath: SecureFile.join(roster.directory, "s/cuhk.cer.old"))
        let again = try await Program.student.run(
            enroll + ["--root-fingerprint", try roster.rootFingerprint], in: roster.directory)
        #expect(again.status == 0, "\(again.all)")
        #expect(try await roster.codeState() == "used")
    }

    /// At a terminal, the code is asked for without echo: it never appears on the screen.
    @Test func theCodePromptDoesNotEcho() async throws {
        let roster = try await RosterCUHK.start()
        defer { roster.stop() }
        let code = try await roster.code()
        let terminal = try PseudoTerminal.run(
            Program.student.path,
            ["enroll", "--sid", "1155123456", "--ca", roster.address.description, "--dir", "p"],
            in: roster.directory, answering: "Enter your enrollment code", with: code.lowercased())
        #expect(terminal.status == 0, "\(terminal.output)")
        #expect(terminal.output.contains("SID: 1155123456 sign finished."))
        #expect(!terminal.output.uppercased().contains(code.uppercased()))
        #expect(!terminal.output.uppercased().contains(code.replacingOccurrences(of: "-", with: "")))
    }

    /// Wrong codes from one address get it throttled; the instructor sees it and clears it; its right code works
    /// all along.
    @Test func throttledAddressesAreListedAndCleared() async throws {
        let roster = try await RosterCUHK.start(arguments: ["--throttle-attempts", "1"])
        defer { roster.stop() }
        try SecureFile.write(
            "0000-0000-0000-0000-0000\n", to: SecureFile.join(roster.directory, "wrong.txt"), mode: 0o600,
            replacing: false)
        let enroll = ["enroll", "--sid", "1155123456", "--ca", roster.address.description, "--root-cert", "cuhk.cer"]
        let first = try await Program.student.run(
            enroll + ["--dir", "a", "--code-file", "wrong.txt"], in: roster.directory)
        #expect(first.status == 3 && first.errorOutput.contains("[enrollment-denied]"), "\(first.all)")
        let second = try await Program.student.run(
            enroll + ["--dir", "a", "--code-file", "wrong.txt"], in: roster.directory)
        #expect(second.status == 3 && second.errorOutput.contains("[enrollment-throttled]"), "\(second.all)")
        #expect(second.errorOutput.contains("try again after"))

        let list = try await Program.cuhk.run(["throttle", "list", "--json"], in: roster.directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["address"] as? String } == ["127.0.0.1"])
        let students = try await Program.cuhk.run(["roster", "list"], in: roster.directory)
        #expect(students.output.contains("No student can be locked out"))

        _ = try await roster.code()
        let right = try await Program.student.run(
            enroll + ["--dir", "b", "--code-file", "code.txt"], in: roster.directory)
        #expect(right.status == 0, "\(right.all)")

        let cleared = try await Program.cuhk.run(["throttle", "clear", "127.0.0.1"], in: roster.directory)
        #expect(cleared.status == 0 && cleared.output.contains("1 address no longer throttled"))
        let empty = try await Program.cuhk.run(["throttle", "list"], in: roster.directory)
        #expect(empty.output.contains("0 addresses throttled"))
        let notThrottled = try await Program.cuhk.run(["throttle", "clear", "127.0.0.1"], in: roster.directory)
        #expect(notThrottled.status == 1)
    }

    /// Behind a load balancer that names each student with a PROXY protocol header (`--proxy-protocol-from`), the
    /// wrong codes count against the student's address, not the balancer's; a connection from the balancer's address
    /// without the header is refused, and nobody is throttled by it.
    @Test func behindALoadBalancerTheStudentsAddressIsThrottled() async throws {
        let roster = try await RosterCUHK.start(arguments: [
            "--throttle-attempts", "1", "--proxy-protocol-from", "127.0.0.1",
        ])
        defer { roster.stop() }
        try SecureFile.write(
            "0000-0000-0000-0000-0000\n", to: SecureFile.join(roster.directory, "wrong.txt"), mode: 0o600,
            replacing: false)
        let balancer = RecordingRelay.loadBalancer(to: roster.address, naming: ([198, 51, 100, 23], 40123))
        try await balancer.run { address in
            let enroll = ["enroll", "--sid", "1155123456", "--ca", address.description, "--root-cert", "cuhk.cer"]
            let first = try await Program.student.run(
                enroll + ["--dir", "a", "--code-file", "wrong.txt"], in: roster.directory)
            #expect(first.status == 3 && first.errorOutput.contains("[enrollment-denied]"), "\(first.all)")
            let second = try await Program.student.run(
                enroll + ["--dir", "a", "--code-file", "wrong.txt"], in: roster.directory)
            #expect(second.status == 3 && second.errorOutput.contains("[enrollment-throttled]"), "\(second.all)")
            _ = try await roster.code()
            let right = try await Program.student.run(
                enroll + ["--dir", "b", "--code-file", "code.txt"], in: roster.directory)
            #expect(right.status == 0, "\(right.all)")
        }
        let list = try await Program.cuhk.run(["throttle", "list", "--json"], in: roster.directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["address"] as? String } == ["198.51.100.23"])

        // Straight to CUHK from the balancer's address: no header, so refused before anything is read as a request.
        let direct = try await Program.student.run(
            [
                "enroll", "--sid", "1155123456", "--ca", roster.address.description, "--root-cert", "cuhk.cer", "--dir",
                "c",
                "--code-file", "wrong.txt", "--retries", "0",
            ], in: roster.directory)
        #expect(direct.status != 0 && direct.errorOutput.contains("malformed-message"), "\(direct.all)")
        let after = try await Program.cuhk.run(["throttle", "list", "--json"], in: roster.directory)
        let still = try #require(try JSONSerialization.jsonObject(with: Data(after.output.utf8)) as? [[String: Any]])
        #expect(still.map { $0["address"] as? String } == ["198.51.100.23"])
    }
}
