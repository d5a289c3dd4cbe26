import AsyncHTTPClient
import CampusAdmin
import CampusAuthority
import CampusPKI
import Foundation
import NIOCore
import Testing

/// CUHK's OCSP responder under hostile GET paths: refused or answered at once, and enrollment goes on.
@Suite struct OCSPLimitsTests {
    static func get(_ url: String) async throws -> (status: UInt, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body))
    }

    @Test func anEightKilobyteGetPathIsRefusedAndEnrollmentGoesOn() async throws {
        try await LiveServers.with { servers in
            let base = "http://127.0.0.1:\(servers.ocspAddress.port)"
            // 8 KB of `/M`: a parser that tried every suffix in full spent seconds of CPU on it.
            let eightKilobytes = String(repeating: "/M", count: 4096)
            let refused = try await Self.get(base + eightKilobytes)
            let expected = HTTPRefusal.requestLineTooLong(limit: HTTPLimits.defaultMaximumRequestLineBytes)
            #expect(refused.status == UInt(expected.status.code))
            #expect(refused.body == expected.reason + "\n")
            // Just under the request line's limit: read once, no request in it.
            let underLimit = String(repeating: "/M", count: (HTTPLimits.defaultMaximumRequestLineBytes - 16) / 2)
            #expect(try await Self.get(base + underLimit).status == 400)

            // Enrollment and a real OCSP GET are served as ever.
            let credentials = try await servers.enroll(sid)
            let root = servers.cuhk.authority.root.certificate
            let id = try OCSPCertificateID(certificate: credentials.certificate, issuer: root)
            let request = Data(OCSPRequestMessage(certificateIDs: [id]).derEncoded()).base64EncodedString()
            let escaped = try #require(request.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: base + "/ocsp/" + escaped), timeout: .seconds(30))
            #expect(response.status.code == 200)
            let body = Array(buffer: try await response.body.collect(upTo: 1 << 16))
            #expect(try OCSPResponseMessage(derEncoded: body).responses.first?.status == .good)
        }
    }
}
