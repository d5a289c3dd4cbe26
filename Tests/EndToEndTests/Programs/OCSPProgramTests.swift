import CampusPKI
import Foundation
import Testing

/// `cuhk serve`'s OCSP responder as a program: asked by `openssl ocsp` (good, then revoked after `cuhk revoke`),
/// and its port taken.
struct OCSPProgramTests {
    @Test func aTakenResponderPortIsNamedAndLeavesNoRootBehind() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let ocsp = try await servers.cuhk.address(announcedBy: "ocsp listening on ")
        let other = try temporaryDirectory()
        let outcome = try await Program.cuhk.run(["--port", "0", "--ocsp-port", "\(ocsp.port)"], in: other)
        #expect(outcome.status == 1)
        #expect(outcome.errorOutput.contains("cannot listen on \(ocsp) (address already in use)"))
        #expect(outcome.errorOutput.contains("--ocsp-port"))
        #expect(!SecureFile.exists(SecureFile.join(other, "cuhk.key")))
    }

    @Test(.enabled(if: OpenSSL.path != nil, "needs the openssl command"))
    func opensslSeesGoodThenRevoked() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let ocsp = try await servers.cuhk.address(announcedBy: "ocsp listening on ")
        let credentials = try await servers.enroll(sid)
        let certificatePath = SecureFile.join(servers.directory, "student-\(sid)/\(sid).cer")
        let rootPath = SecureFile.join(servers.directory, "cuhk.cer")
        let query = [
            "ocsp", "-issuer", rootPath, "-cert", certificatePath, "-url", "http://\(ocsp)", "-CAfile", rootPath,
        ]

        let good = try OpenSSL.run(query)
        #expect(good.status == 0)
        #expect(good.output.contains("Response verify OK"))
        #expect(good.output.contains("\(sid).cer: good"))
        #expect(good.output.contains("Next Update:"))

        let serial = credentials.certificate.serialNumber.hex
        let revoke = try await Program.cuhk.run(
            ["revoke", "--serial", serial, "--reason", "keyCompromise"], in: servers.directory)
        #expect(revoke.status == 0)
        // It says when the revocation takes effect, and where.
        #expect(revoke.output.contains("In effect now in cuhk.db"), "\(revoke.output)")
        #expect(revoke.output.contains("GET /crl"))
        #expect(revoke.output.contains("every \(RevocationListDefaults.pollIntervalSeconds) s by default"))

        let revoked = try OpenSSL.run(query)
        #expect(revoked.output.contains("Response verify OK"))
        #expect(revoked.output.contains("\(sid).cer: revoked"))
        #expect(revoked.output.contains("Reason: keyCompromise"))
    }
}
