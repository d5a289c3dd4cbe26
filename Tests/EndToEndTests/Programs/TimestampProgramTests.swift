import AsyncHTTPClient
import CampusAuthority
import CampusPKI
import CampusSQLite
import Foundation
import NIOCore
import Testing

/// `cuhk serve`'s timestamp authority as a program, asked by OpenSSL as README shows: `openssl ts -query` posted to
/// `/tsa`, the reply read and verified by `openssl ts -reply` and `openssl ts -verify` against `cuhk.cer`.
@Suite(.enabled(if: OpenSSL.path != nil, "needs the openssl command"))
struct TimestampProgramTests {
    func post(_ bytes: [UInt8], to url: String, type: String = "application/timestamp-query") async throws
        -> (status: UInt, contentType: String?, body: [UInt8])
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: type)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = Array(buffer: try await response.body.collect(upTo: 1 << 17))
        return (response.status.code, response.headers.first(name: "Content-Type"), body)
    }

    @Test func opensslGetsATokenThatOpenSSLAndCampusPKIVerify() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let http = try await servers.cuhk.address(announcedBy: "ocsp listening on ")
        let work = try temporaryDirectory()
        let file = work + "/report.txt"
        try SecureFile.write("The report of 1155123456.\n", to: file, mode: 0o644, replacing: false)
        let rootPath = SecureFile.join(servers.directory, "cuhk.cer")

        let query = try OpenSSL.run(["ts", "-query", "-data", file, "-sha256", "-cert", "-out", work + "/q.tsq"])
        #expect(query.status == 0, "\(query.output)")
        let queryBytes = Array(try Data(contentsOf: URL(fileURLWithPath: work + "/q.tsq")))
        let answer = try await post(queryBytes, to: "http://\(http)/tsa")
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/timestamp-reply")
        try Data(answer.body).write(to: URL(fileURLWithPath: work + "/reply.tsr"))

        let text = try OpenSSL.run(["ts", "-reply", "-in", work + "/reply.tsr", "-text"])
        #expect(text.status == 0)
        #expect(text.output.contains("Status: Granted."))
        #expect(text.output.contains("Policy OID: \(TimestampPolicy.cuhk)"))
        #expect(text.output.contains("Hash Algorithm: sha256"))
        #expect(text.output.contains("Accuracy: 0x01 seconds, unspecified millis, unspecified micros"))
        #expect(text.output.contains("Nonce: 0x"))

        let verify = try OpenSSL.run(["ts", "-verify", "-data", file, "-in", work + "/reply.tsr", "-CAfile", rootPath])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("Verification: OK"))
        // With the query, OpenSSL also checks the nonce and the imprint against it.
        let withQuery = try OpenSSL.run([
            "ts", "-verify", "-queryfile", work + "/q.tsq", "-in", work + "/reply.tsr", "-CAfile", rootPath,
        ])
        #expect(withQuery.output.contains("Verification: OK"), "\(withQuery.output)")

        // The token alone, as `-token_in`.
        let tokenOut = try OpenSSL.run([
            "ts", "-reply", "-in", work + "/reply.tsr", "-token_out", "-out", work + "/token.der",
        ])
        #expect(tokenOut.status == 0)
        let tokenVerify = try OpenSSL.run([
            "ts", "-verify", "-data", file, "-in", work + "/token.der", "-token_in", "-CAfile", rootPath,
        ])
        #expect(tokenVerify.output.contains("Verification: OK"), "\(tokenVerify.output)")

        // Other data: OpenSSL refuses.
        try SecureFile.write("Another report.\n", to: work + "/other.txt", mode: 0o644, replacing: false)
        let other = try OpenSSL.run([
            "ts", "-verify", "-data", work + "/other.txt", "-in", work + "/reply.tsr", "-CAfile", rootPath,
        ])
        #expect(other.status != 0)
        #expect(other.output.contains("message imprint mismatch"))

        // CampusPKI's verifier agrees, and CUHK recorded the token.
        let request = try TimestampRequest(derEncoded: queryBytes)
        let (_, verified) = try await TimestampVerifier(root: try servers.root).verify(
            response: answer.body, for: request)
        #expect(verified.nonce == request.nonce)
        let registry = try SQLiteAuthorityStore(
            path: SecureFile.join(servers.directory, "cuhk.db"), checkWrites: false)
        #expect(try await registry.timestampRecords(limit: 10).map(\.serial) == [verified.serialHex])
    }

    @Test func opensslSeesTheRejectionsAndHTTPRefusals() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let http = try await servers.cuhk.address(announcedBy: "ocsp listening on ")
        let work = try temporaryDirectory()
        let file = work + "/report.txt"
        try SecureFile.write("x\n", to: file, mode: 0o644, replacing: false)

        _ = try OpenSSL.run(["ts", "-query", "-data", file, "-sha1", "-cert", "-out", work + "/sha1.tsq"])
        let sha1 = try await post(
            Array(try Data(contentsOf: URL(fileURLWithPath: work + "/sha1.tsq"))), to: "http://\(http)/tsa")
        #expect(sha1.status == 200)
        try Data(sha1.body).write(to: URL(fileURLWithPath: work + "/sha1.tsr"))
        let text = try OpenSSL.run(["ts", "-reply", "-in", work + "/sha1.tsr", "-text"])
        #expect(text.output.contains("Status: Rejected."))
        #expect(text.output.contains("Failure info: unrecognized or unsupported algorithm identifier"))

        let garbage = try await post(Array("garbage".utf8), to: "http://\(http)/tsa")
        #expect(try TimestampResponse(derEncoded: garbage.body).status.failure == .badDataFormat)
        let tooLarge = try await post([UInt8](repeating: 0, count: 5000), to: "http://\(http)/tsa")
        #expect(tooLarge.status == 413)
        let wrongType = try await post(Array("x".utf8), to: "http://\(http)/tsa", type: "text/plain")
        #expect(wrongType.status == 415)
        // OCSP still answers beside it on the same port.
        let ocsp = try await post(Array("not OCSP".utf8), to: "http://\(http)/", type: "application/ocsp-request")
        #expect(ocsp.status == 200 && ocsp.contentType == "application/ocsp-response")
    }
}
