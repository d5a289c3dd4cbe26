import CampusAuthority
import CampusPKI
import CampusSQLite
import CampusStudent
import Crypto
import Foundation
import Testing
@_spi(CMS) import X509

/// Running CUHK as an operator does: addresses in certificates, free ports, Blackboard's certificate beside the root
/// through crashes, the code slips, open-enrollment certificates under a roster, and the receipts' checks.
@Suite struct OperationsProgramTests {
    /// The responder URL a `cuhk serve` prints.
    static func responderURL(_ running: Running) async throws -> String {
        _ = try await running.address()
        let prefix = "certificates name the OCSP responder "
        let line = try #require(running.output.split(separator: "\n").first { $0.hasPrefix(prefix) })
        return String(line.dropFirst(prefix.count))
    }

    static func certificate(at path: String) throws -> Certificate {
        try Certificate(pemEncoded: try #require(try SecureFile.readText(at: path)))
    }

    // MARK: - Ports and addresses

    @Test func twoCUHKsOnFreePortsRunSideBySide() async throws {
        var servers: [Running] = []
        defer { for server in servers { server.signal(SIGKILL) } }
        var ocspPorts: [Int] = []
        for _ in 0..<2 {
            let directory = try temporaryDirectory()
            let server = try Program.cuhk.start(
                Program.patientCUHK + ["--port", "0", "--open-enrollment"], in: directory)
            servers.append(server)
            _ = try await server.address()
            ocspPorts.append(try await server.address(announcedBy: "ocsp listening on ").port)
        }
        #expect(ocspPorts[0] != ocspPorts[1])
        #expect(!ocspPorts.contains(OCSPResponder.defaultPort))
        #expect(servers.allSatisfy { $0.process.isRunning }, "\(servers.map(\.errorOutput))")
    }

    @Test func aWildcardHostNeverPutsAnUnroutableAddressInACertificate() async throws {
        let directory = try temporaryDirectory()
        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--host", "0.0.0.0", "--port", "0", "--open-enrollment"], in: directory)
        defer { cuhk.signal(SIGKILL) }
        let url = try await Self.responderURL(cuhk)
        let ocsp = try await cuhk.address(announcedBy: "ocsp listening on ")
        // The machine's host name stands in for the wildcard (this test machine's resolves).
        #expect(url == "http://\(ProcessInfo.processInfo.hostName):\(ocsp.port)/")
        let address = try await cuhk.address()
        let credentials = try await EnrollmentClient.premade(
            for: sid, key: TestKeys.pool[0], under: directory,
            certificateAuthority: ServerAddress(host: "127.0.0.1", port: address.port)
        ).enroll(sid).0
        let blackboard = try Self.certificate(at: SecureFile.join(directory, "blackboard.cer"))
        for certificate in [credentials.certificate, blackboard] {
            #expect(certificate.ocspResponderURLs == [url])
            #expect(!certificate.ocspResponderURLs.contains { $0.contains("0.0.0.0") })
        }

        // An unroutable --public-url is a usage error; a good one is what certificates name.
        let refused = try await Program.cuhk.run(
            ["--host", "0.0.0.0", "--port", "0", "--public-url", "http://0.0.0.0:9336/"], in: try temporaryDirectory())
        #expect(refused.status == 64 && refused.errorOutput.contains("no client can connect to"))
        let named = try Program.cuhk.start(
            Program.patientCUHK + [
                "--host", "0.0.0.0", "--port", "0", "--open-enrollment", "--public-url",
                "http://cuhk.example.edu:9336/",
            ],
            in: try temporaryDirectory())
        defer { named.signal(SIGKILL) }
        #expect(try await Self.responderURL(named) == "http://cuhk.example.edu:9336/")
    }

    // MARK: - Blackboard's certificate beside the root

    @Test(arguments: ServiceCertificateBesideRoot.Step.allCases)
    func aCUHKKilledWhileIssuingBlackboardsCertificateFinishesOrRedoesIt(at step: ServiceCertificateBesideRoot.Step)
        async throws
    {
        let directory = try temporaryDirectory()
        let root = SecureFile.join(directory, "root")
        let crashed = try await Program.cuhk.run(
            ["init", "--dir", "root"], in: directory, environment: ["CAMPUSPKI_CRASH_AT": step.rawValue])
        #expect(crashed.killed && crashed.status == SIGKILL)
        let again = try await Program.cuhk.run(["init", "--dir", "root"], in: directory)
        #expect(again.status == 0, "\(again.all)")
        // Staged but never recorded: issued again. Recorded: its publication is finished.
        #expect(again.output.contains(step == .stagedService ? "issued for blackboard" : "finished after"))
        let certificate = try Self.certificate(at: SecureFile.join(root, "blackboard.cer"))
        let key = try P256.Signing.PrivateKey(
            pemRepresentation: try #require(try SecureFile.readText(at: SecureFile.join(root, "blackboard.key"))))
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(!SecureFile.exists(ServiceCertificateBesideRoot.stagingPath(name: "blackboard", in: root)))
        let recorded = try await SQLiteAuthorityStore(path: SecureFile.join(root, "cuhk.db"))
            .serviceCertificates()
        #expect(recorded.map(\.serial) == [certificate.serialNumber.hex])
        #expect(certificate.ocspResponderURLs == ["http://127.0.0.1:9336/"])
        // A third run changes nothing.
        let third = try await Program.cuhk.run(["init", "--dir", "root"], in: directory)
        #expect(third.status == 0 && !third.output.contains("Blackboard's certificate"))
        #expect(try Self.certificate(at: SecureFile.join(root, "blackboard.cer")) == certificate)
    }

    /// Killed after the root but before Blackboard's certificate, or told not to issue it at `init`: the next
    /// `serve` issues it, with its own responder's URL.
    @Test func serveIssuesBlackboardsCertificateBesideARootItDidNotCreate() async throws {
        for first in [
            (
                ["init", "--dir", "root"],
                ["CAMPUSPKI_CRASH_AT": RootAuthority.CreationStep.publishedCertificate.rawValue]
            ),
            (["init", "--dir", "root", "--no-blackboard-certificate"], [:]),
        ] {
            let directory = try temporaryDirectory()
            _ = try await Program.cuhk.run(first.0, in: directory, environment: first.1)
            #expect(SecureFile.exists(SecureFile.join(directory, "root/cuhk.cer")))
            #expect(!SecureFile.exists(SecureFile.join(directory, "root/blackboard.cer")))
            let cuhk = try Program.cuhk.start(
                Program.patientCUHK + ["--dir", "root", "--port", "0", "--open-enrollment"], in: directory)
            defer { cuhk.signal(SIGKILL) }
            let url = try await Self.responderURL(cuhk)
            #expect(cuhk.output.contains("Blackboard's certificate issued for blackboard"))
            let certificate = try Self.certificate(at: SecureFile.join(directory, "root/blackboard.cer"))
            #expect(certificate.ocspResponderURLs == [url])
        }
    }

    // MARK: - Slips

    @Test func aSlipCarriesTheCodeTheFingerprintBothAddressesAndNoCodeOnACommandLine() async throws {
        let directory = try temporaryDirectory()
        try SecureFile.write(
            "sid,name\n1155123456,Chan Tai Man\n", to: SecureFile.join(directory, "roster.csv"), mode: 0o644,
            replacing: false)
        #expect(try await Program.cuhk.run(["roster", "import", "roster.csv"], in: directory).status == 0)
        // Before CUHK has run, its address is not known: the slips are refused and no code is spent.
        let early = try await Program.cuhk.run(["codes", "issue", "--all-unenrolled", "--slips"], in: directory)
        #expect(early.status == 1 && early.errorOutput.contains("--ca-address"), "\(early.all)")
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        #expect(try await registry.codes().isEmpty)

        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--port", "0", "--blackboard-address", "bb.example.edu:3141"], in: directory)
        defer { cuhk.signal(SIGKILL) }
        let address = try await cuhk.address()
        let slips = try await Program.cuhk.run(["codes", "issue", "--all-unenrolled", "--slips"], in: directory)
        #expect(slips.status == 0, "\(slips.all)")
        let text = slips.output
        let fingerprint = try Self.certificate(at: SecureFile.join(directory, "cuhk.cer")).sha256Fingerprint
        let codeLine = try #require(
            text.split(separator: "\n").first { $0.hasPrefix("Your one-time enrollment code: ") })
        let code = String(codeLine.dropFirst("Your one-time enrollment code: ".count))
        #expect(EnrollmentCode(code) != nil)
        #expect(text.contains(fingerprint))
        #expect(text.contains("CUHK (the certificate authority): 127.0.0.1:\(address.port)"))
        #expect(text.contains("Blackboard (where reports go):    bb.example.edu:3141"))
        #expect(
            text.contains(
                "student --sid 1155123456 --ca 127.0.0.1:\(address.port) --blackboard bb.example.edu:3141 "
                    + "--root-fingerprint \(fingerprint)"))
        #expect(text.contains("When asked for your enrollment code, type: \(code)"))
        // The code is never part of a command.
        for line in text.split(separator: "\n") where line.contains("student ") {
            #expect(!line.contains(code), "a command holds the code: \(line)")
        }
        // What was printed is what CUHK stored.
        #expect(try await registry.codes().first?.studentID == "1155123456")
    }

    // MARK: - Open enrollment under a roster

    @Test func anOpenEnrollmentCertificateDoesNotCountAsEnrolledUnderARoster() async throws {
        let directory = try temporaryDirectory()
        let open = try Program.cuhk.start(Program.patientCUHK + ["--port", "0", "--open-enrollment"], in: directory)
        let address = try await open.address()
        // Someone takes a certificate for the student's ID while enrollment is open.
        let taken = try await EnrollmentClient.premade(
            for: sid, key: TestKeys.pool[1], under: directory, certificateAuthority: address
        ).enroll(sid).0
        open.signal(SIGKILL)
        _ = try await open.wait()

        try SecureFile.write(
            "sid,name\n\(sid),Chan Tai Man\n", to: SecureFile.join(directory, "roster.csv"), mode: 0o644,
            replacing: false)
        let imported = try await Program.cuhk.run(["roster", "import", "roster.csv"], in: directory)
        #expect(imported.status == 0)
        #expect(imported.output.contains("WARNING: 1 valid certificate for students on the roster"))
        #expect(imported.output.contains(taken.certificate.serialNumber.hex))
        #expect(imported.output.contains("cuhk revoke --open-enrollment"))

        let list = try await Program.cuhk.run(["roster", "list", "--json"], in: directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        #expect(rows.first?["enrollment"] as? String == "not enrolled")
        #expect(rows.first?["certificates_not_from_roster"] as? [String] == [taken.certificate.serialNumber.hex])
        let codes = try await Program.cuhk.run(["codes", "issue", "--all-unenrolled", "--json"], in: directory)
        let issued = try #require(try JSONSerialization.jsonObject(with: Data(codes.output.utf8)) as? [[String: Any]])
        #expect(issued.map { $0["sid"] as? String } == [sid.rawValue])

        let revoked = try await Program.cuhk.run(["revoke", "--open-enrollment"], in: directory)
        #expect(revoked.status == 0 && revoked.output.contains("1 certificate revoked"), "\(revoked.all)")
        let issuedJSON = try await Program.cuhk.run(["issued", "--json"], in: directory)
        let certificates = try #require(
            try JSONSerialization.jsonObject(with: Data(issuedJSON.output.utf8)) as? [[String: Any]])
        #expect(certificates.first?["authorization"] as? String == "open-enrollment")
        #expect(certificates.first?["roster_authorized"] as? Bool == false)
        #expect(certificates.first?["status"] as? String == "revoked")
    }

    // MARK: - Receipts

    /// Blackboard's key from `cuhk init`, and a receipt signed with it: as Blackboard does, or without signed
    /// attributes.
    static func receipt(in directory: String, signedAttributes: Bool) throws -> [UInt8] {
        let certificate = try certificate(at: SecureFile.join(directory, "blackboard.cer"))
        let key = try P256.Signing.PrivateKey(
            pemRepresentation: try #require(try SecureFile.readText(at: SecureFile.join(directory, "blackboard.key"))))
        let content = Array("Lab 1\n".utf8)
        let document = try ReceiptDocument(
            studentID: sid.rawValue, certificateSerial: "7f01", assignment: "report", deadline: nil, report: 1,
            messageCount: 1, totalBytes: UInt64(content.count), contentSHA256: Array(SHA256.hash(data: content)),
            committedAt: Date(), isLate: false)
        if signedAttributes {
            return try SignedReceipt.sign(document, certificate: certificate, privateKey: key)
        }
        return try CMS.sign(
            document.canonicalBytes, signatureAlgorithm: .ecdsaWithSHA256, certificate: certificate,
            privateKey: Certificate.PrivateKey(key), signingTime: nil, detached: false)
    }

    @Test func aReceiptWithoutSignedAttributesIsRefusedByVerifyReceipt() async throws {
        let directory = try temporaryDirectory()
        #expect(try await Program.cuhk.run(["init"], in: directory).status == 0)
        try SecureFile.write(
            try Self.receipt(in: directory, signedAttributes: false), to: SecureFile.join(directory, "bare.p7s"),
            mode: 0o644, replacing: false)
        try SecureFile.write(
            try Self.receipt(in: directory, signedAttributes: true), to: SecureFile.join(directory, "signed.p7s"),
            mode: 0o644, replacing: false)
        let bare = try await Program.student.run(["verify-receipt", "bare.p7s", "--offline"], in: directory)
        #expect(bare.status == 8)
        #expect(bare.errorOutput.contains("covers no signed attributes"), "\(bare.all)")
        NewcomerTests.expectPlain(bare.all)
        let signed = try await Program.student.run(["verify-receipt", "signed.p7s", "--offline"], in: directory)
        #expect(signed.status == 0, "\(signed.all)")
        #expect(signed.output.contains("as Blackboard states it"))
        #expect(signed.output.contains("Revocation: not checked (--offline)"))
    }

    /// `cuhk service revoke` reaches `verify-receipt` through CUHK's OCSP responder; without CUHK it says it could
    /// not ask.
    @Test func verifyReceiptAsksCUHKWhetherBlackboardsCertificateWasRevoked() async throws {
        let directory = try temporaryDirectory()
        let cuhk = try Program.cuhk.start(Program.patientCUHK + ["--port", "0", "--open-enrollment"], in: directory)
        defer { cuhk.signal(SIGKILL) }
        _ = try await Self.responderURL(cuhk)
        try SecureFile.write(
            try Self.receipt(in: directory, signedAttributes: true), to: SecureFile.join(directory, "r.p7s"),
            mode: 0o644, replacing: false)
        let good = try await Program.student.run(["verify-receipt", "r.p7s"], in: directory)
        #expect(good.status == 0 && good.output.contains("Revocation: not revoked, says CUHK's OCSP responder"))

        cuhk.signal(SIGKILL)
        _ = try await cuhk.wait()
        let down = try await Program.student.run(["verify-receipt", "r.p7s"], in: directory)
        #expect(down.status == 0 && down.output.contains("Revocation: not checked: CUHK's OCSP responder at"))
        #expect(down.output.contains("could not be reached"))

        let revoke = try await Program.cuhk.run(["service", "revoke", "--name", "blackboard"], in: directory)
        #expect(revoke.status == 0 && revoke.output.contains("1 certificate revoked"), "\(revoke.all)")
        let again = try Program.cuhk.start(Program.patientCUHK + ["--port", "0", "--open-enrollment"], in: directory)
        defer { again.signal(SIGKILL) }
        let ocsp = try await again.address(announcedBy: "ocsp listening on ")
        let revoked = try await Program.student.run(["verify-receipt", "r.p7s", "--ca", "\(ocsp)"], in: directory)
        #expect(revoked.status == 8)
        #expect(revoked.errorOutput.contains("CUHK revoked Blackboard's certificate"), "\(revoked.all)")
        #expect(revoked.errorOutput.contains("(keyCompromise)"))
    }

    // MARK: - The demo

    @Test func campusDemoWorksAgainAndAgainInTheSameDirectory() async throws {
        let directory = try temporaryDirectory()
        for run in 1...3 {
            let demo = try await Program.campusDemo.run(["--dir", directory], in: directory, limit: .seconds(300))
            #expect(demo.status == 0, "run \(run): \(demo.all)")
            #expect(demo.output.contains("Demo complete"))
            #expect(!demo.all.contains("revocation-unknown"))
            // Step 0 comes before step 1.
            let lines = demo.output.split(separator: "\n")
            let firstStep0 = try #require(lines.firstIndex { $0.contains("[Step 0]") })
            let firstStep1 = try #require(lines.firstIndex { $0.contains("[Step 1]") })
            #expect(firstStep0 < firstStep1)
            #expect(demo.output.contains("names another OCSP responder") == (run > 1))
        }
    }

    // MARK: - Command lines

    @Test func missingFilesNameTheCommandThatMakesThem() async throws {
        let directory = try temporaryDirectory()
        let issued = try await Program.cuhk.run(["issued"], in: directory)
        #expect(
            issued.status == 2 && issued.errorOutput.contains("cuhk init, cuhk serve or cuhk roster import creates it"))
        let reports = try await Program.blackboard.run(["reports"], in: directory)
        #expect(reports.status == 2 && reports.errorOutput.contains("blackboard serve"))
        let receipt = try await Program.student.run(
            ["verify-receipt", "none.p7s", "--root-cert", "no.cer"], in: directory)
        #expect(receipt.status == 1 && receipt.errorOutput.contains("cuhk init or cuhk serve writes cuhk.cer"))
        let blackboard = try Program.blackboard.start(["--port", "0"], in: directory)
        defer { blackboard.signal(SIGKILL) }
        _ = try await blackboard.address()
        #expect(blackboard.output.contains("cuhk init or cuhk serve writes cuhk.cer"))
        #expect(blackboard.output.contains("cuhk init or cuhk serve writes blackboard.cer and blackboard.key"))
    }

    @Test func helpShowsServesOptionsAndDurationsAreWhatHelpSays() async throws {
        let directory = try temporaryDirectory()
        let help = try await Program.cuhk.run(["--help"], in: directory)
        #expect(help.status == 0)
        for option in ["--public-url", "--ocsp-port", "--open-enrollment", "--blackboard-address", "SUBCOMMANDS"] {
            #expect(help.output.contains(option), "cuhk --help lacks \(option)")
        }
        for nonsense in ["1.5h", "0d", "-1d", "7days", "1e3s", "inf", "30s"] {
            let outcome = try await Program.cuhk.run(
                ["codes", "issue", "--all-unenrolled", "--valid-for", nonsense], in: directory)
            #expect(outcome.status == 64, "--valid-for \(nonsense) was accepted: \(outcome.all)")
        }
        // Whole numbers with a unit, or seconds alone, as help says; the range is checked per option.
        let lockout = try await Program.cuhk.run(
            ["--port", "0", "--lockout-duration", "1.5h"], in: try temporaryDirectory())
        #expect(lockout.status == 64)
    }
}
