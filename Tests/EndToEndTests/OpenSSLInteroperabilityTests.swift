import CampusCommandLine
import CampusPKI
import Foundation
import Testing

/// CampusPKI against OpenSSL: a CSR made by `openssl req` is accepted, and what CUHK issues verifies with
/// `openssl verify -CAfile cuhk.cer`.
@Suite(.enabled(if: OpenSSL.path != nil, "needs the openssl command"))
struct OpenSSLInteroperabilityTests {
    @Test func opensslCSRIsIssuedAndTheCertificateVerifiesWithOpenSSL() async throws {
        try await LiveServers.with { servers in
            let work = try temporaryDirectory()
            let csrPath = work + "/req.pem"
            _ = try OpenSSL.run([
                "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", work + "/key.pem",
                "-subj", "/CN=1155123456", "-out", csrPath,
            ])
            let csrPEM = try #require(try SecureFile.readText(at: csrPath))
            let certificatePEM = try await EnrollmentExchange.certificate(servers.cuhkAddress, csrPEM: csrPEM)
            let pem = try #require(certificatePEM)
            try SecureFile.write(pem, to: work + "/1155123456.cer", mode: 0o644, replacing: false)
            let verify = try OpenSSL.run(["verify", "-CAfile", servers.rootPath, work + "/1155123456.cer"])
            #expect(verify.status == 0)
            #expect(verify.output.contains("1155123456.cer: OK"))
            let text = try OpenSSL.run(["x509", "-in", work + "/1155123456.cer", "-noout", "-text"]).output
            #expect(text.contains("CA:FALSE"))
            #expect(text.contains("Digital Signature, Key Encipherment"))
            #expect(text.contains("TLS Web Client Authentication"))
            #expect(text.contains("Authority Key Identifier"))
            #expect(text.contains("Subject: O = CUHK, CN = 1155123456"))
            // The root verifies as a self-signed CA with OpenSSL too.
            #expect(try OpenSSL.run(["verify", "-CAfile", servers.rootPath, servers.rootPath]).status == 0)
        }
    }

    @Test func studentKeyAndCertificateMatchForOpenSSL() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let directory = SecureFile.join(servers.directory, "student-\(sid)")
            let keyModulus = try OpenSSL.run(["rsa", "-in", directory + "/\(sid).key", "-noout", "-modulus"]).output
            let certificateModulus = try OpenSSL.run(["x509", "-in", directory + "/\(sid).cer", "-noout", "-modulus"])
                .output
            #expect(!keyModulus.isEmpty && keyModulus == certificateModulus)
            #expect(credentials.certificate.subject.studentID == sid)
        }
    }
}

enum OpenSSL {
    static let path: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let (termination, output) = try ChildProcess.capture(path!, arguments: arguments)
        return (termination.statusOrSignal, output)
    }
}
