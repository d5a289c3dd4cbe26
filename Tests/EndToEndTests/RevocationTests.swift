import AsyncHTTPClient
import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing
import X509

/// Revocation end to end: CUHK's OCSP responder over HTTP, and Blackboard asking it at step 3.
struct RevocationTests {
    let revokedStudent = StudentID("1155000001")!
    let otherStudent = StudentID("1155000002")!

    /// What Blackboard answers an upload: `nil` for a receipt, or the refusal's code.
    func uploadRefusal(_ servers: LiveServers, as credentials: StudentCredentials) async throws -> CampusError.Code? {
        do {
            _ = try await servers.uploader().upload([[1, 2, 3]], as: credentials)
            return nil
        } catch StudentError.refusedByBlackboard(let error) {
            return error.code
        }
    }

    @Test func aRevokedStudentIsRefusedWhileAnotherUploads() async throws {
        try await LiveServers.with { servers in
            let revoked = try await servers.enroll(revokedStudent, key: TestKeys.pool[0])
            let other = try await servers.enroll(otherStudent, key: TestKeys.pool[1])
            let access = try #require(try revoked.certificate.extensions.authorityInformationAccess)
            #expect(
                access.first?.location == .uniformResourceIdentifier("http://127.0.0.1:\(servers.ocspAddress.port)/"))
            _ = try await servers.cuhk.authority.registry.revokeAll(
                of: revokedStudent, reason: .keyCompromise, at: Date())

            let uploader = try servers.uploader()
            let receipt = try await FramedClient.withConnection(to: servers.blackboardAddress) { frames in
                let session = try await uploader.handshake(on: frames, credentials: other)
                var records = session.records
                try await frames.send(records.seal([1]).0)
                #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
                // The other student's session is open while the revoked one is turned away.
                #expect(try await uploadRefusal(servers, as: revoked) == .certificateRevoked)
                try await frames.send(records.end())
                guard case .receipt(let signed) = try records.receive(try await frames.receive().message) else {
                    return nil as VerifiedReceipt?
                }
                return try await SignedReceipt.verify(signed, root: try servers.root, blackboardName: "blackboard")
            }
            #expect(receipt?.document.messageCount == 1)
            // The answers are cached until their nextUpdate, so a second refusal costs no request: the other student's
            // answer, and the revoked one's unless CUHK's revocation list (polled in the background) refused that
            // certificate before OCSP was asked.
            let cached = servers.blackboard.ocspCache.count
            #expect(cached == 2 || (cached == 1 && servers.blackboard.revoked.count == 1))
            #expect(try await uploadRefusal(servers, as: revoked) == .certificateRevoked)
            #expect(try await uploadRefusal(servers, as: other) == nil)
        }
    }

    @Test func afterARenewalBlackboardRefusesTheOldCertificate() async throws {
        try await LiveServers.with { servers in
            let old = try await servers.enroll(otherStudent, key: TestKeys.pool[2])
            let renewed = try await servers.enrollment(for: otherStudent).renew(otherStudent)
            #expect(renewed.certificate.serialNumber != old.certificate.serialNumber)
            #expect(try await uploadRefusal(servers, as: old) == .certificateRevoked)
            #expect(try await uploadRefusal(servers, as: renewed) == nil)
        }
    }

    @Test(arguments: [RevocationPolicy.Mode.hard, .soft, .off])
    func aResponderThatIsDown(mode: RevocationPolicy.Mode) async throws {
        try await LiveServers.with(
            // Nothing listens on port 1: the request is refused at once.
            configureCUHK: { $0.ocspURL = "http://127.0.0.1:1/" },
            configureBlackboard: { $0.revocation = mode }
        ) { servers in
            let credentials = try await servers.enroll(sid)
            let refusal = try await uploadRefusal(servers, as: credentials)
            #expect(refusal == (mode == .hard ? .revocationUnknown : nil))
            #expect(servers.blackboard.ocspCache.count == 0)
        }
    }

    @Test func theResponderOverHTTP() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let root = servers.cuhk.authority.root.certificate
            let id = try OCSPCertificateID(certificate: credentials.certificate, issuer: root)
            let request = OCSPRequestMessage(certificateIDs: [id]).derEncoded()
            let url = "http://127.0.0.1:\(servers.ocspAddress.port)/"

            let posted = try await post(request, to: url)
            #expect(posted.status == 200 && posted.contentType == "application/ocsp-response")
            let good = try OCSPResponseMessage(derEncoded: posted.body)
            #expect(good.responses.first?.status == .good && good.isSigned(by: root))

            // RFC 5019's GET: the request in base64, URL-escaped, as the path.
            let path =
                Data(request).base64EncodedString()
                .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: url + path), timeout: .seconds(10))
            #expect(response.status.code == 200)
            let body = Array(buffer: try await response.body.collect(upTo: 1 << 16))
            #expect(try OCSPResponseMessage(derEncoded: body).responses.first?.status == .good)

            // Malformed: an OCSP malformedRequest (or HTTP 400), and the responder goes on answering.
            for junk in [[UInt8](), Array("not DER".utf8), [0x30, 0x82, 0xFF, 0xFF]] {
                let answer = try await post(junk, to: url)
                if answer.status == 200 {
                    #expect(try OCSPResponseMessage(derEncoded: answer.body).status == .malformedRequest)
                } else {
                    #expect(answer.status == 400)
                }
            }
            let badGet = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: url + "%%%not-base64"), timeout: .seconds(10))
            #expect(badGet.status.code == 400)
            let tooLarge = try await post(
                [UInt8](repeating: 0x30, count: OCSPResponder.maximumRequestSize + 1), to: url)
            #expect(tooLarge.status == 413)
            #expect(try await post(request, to: url).status == 200)
        }
    }

    func post(_ bytes: [UInt8], to url: String) async throws
        -> (status: UInt, contentType: String?, body: [UInt8])
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/ocsp-request")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = Array(buffer: try await response.body.collect(upTo: 1 << 16))
        return (response.status.code, response.headers.first(name: "Content-Type"), body)
    }
}
