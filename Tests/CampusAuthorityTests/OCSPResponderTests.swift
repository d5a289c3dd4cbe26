import CampusPKI
import Foundation
import Logging
import Testing
import X509

@testable import CampusAuthority

/// The OCSP responder without HTTP: what it answers for good, revoked, unknown and malformed requests, read back
/// both with CampusPKI's reader and with swift-certificates' own `OCSPVerifierPolicy`.
struct OCSPResponderTests {
    static let root = CertificateAuthorityTests.root
    static let otherRoot = try! RootAuthority.make()
    static let url = "http://127.0.0.1:9336/"
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// An authority that writes the responder's URL, its registry and its responder.
    func setUp(validity: TimeInterval = 3600) -> (CertificateAuthority, InMemoryAuthorityStore, OCSPResponder) {
        let registry = InMemoryAuthorityStore()
        let authority = CertificateAuthority(
            root: Self.root, registry: registry, configuration: .init(ocspURL: Self.url))
        let responder = OCSPResponder(root: Self.root, registry: registry, configuration: .init(validity: validity))
        return (authority, registry, responder)
    }

    func ask(_ responder: OCSPResponder, about certificate: Certificate, issuer: Certificate? = nil, now: Date = Date())
        async throws -> OCSPResponseMessage
    {
        let id = try OCSPCertificateID(certificate: certificate, issuer: issuer ?? Self.root.certificate)
        let request = OCSPRequestMessage(certificateIDs: [id]).derEncoded()
        let response = try OCSPResponseMessage(
            derEncoded: await responder.respond(to: request, now: now, logger: Self.quiet))
        #expect(response.status == .successful)
        #expect(response.isSigned(by: Self.root.certificate))
        #expect(!response.isSigned(by: Self.otherRoot.certificate))
        let single = try #require(response.responses.first)
        #expect(response.responses.count == 1 && single.certificateID == id)
        return response
    }

    @Test func issuedCertificatesNameTheResponder() async throws {
        let (authority, _, _) = setUp()
        let (_, certificate) = try await authority.issue(csrPEM: makeCSR())
        let access = try #require(try certificate.extensions.authorityInformationAccess)
        #expect(access.map(\.method) == [.ocspServer])
        #expect(access.first?.location == .uniformResourceIdentifier(Self.url))

        let plain = CertificateAuthority(root: Self.root, registry: InMemoryAuthorityStore())
        let (_, without) = try await plain.issue(csrPEM: makeCSR())
        #expect(try without.extensions.authorityInformationAccess == nil)
    }

    @Test func goodThenRevokedWithTimeAndReason() async throws {
        let (authority, registry, responder) = setUp(validity: 600)
        let (issued, certificate) = try await authority.issue(csrPEM: makeCSR())
        let now = Date(timeIntervalSince1970: 1_800_000_000.4)
        let good = try await ask(responder, about: certificate, now: now)
        let single = try #require(good.responses.first)
        #expect(single.status == .good)
        #expect(single.thisUpdate == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(single.nextUpdate == Date(timeIntervalSince1970: 1_800_000_600))

        let revokedAt = Date(timeIntervalSince1970: 1_799_999_000)
        _ = try await registry.revoke(serial: issued.serial, reason: .keyCompromise, at: revokedAt)
        let revoked = try await ask(responder, about: certificate, now: now)
        #expect(revoked.responses.first?.status == .revoked(time: revokedAt, reasonCode: 1))
    }

    @Test func unknownForASerialNeverIssuedAndForAnotherIssuer() async throws {
        let (authority, _, responder) = setUp()
        let (_, certificate) = try await authority.issue(csrPEM: makeCSR())
        let stranger = try await CertificateAuthority(root: Self.otherRoot, registry: InMemoryAuthorityStore())
            .issue(csrPEM: makeCSR()).1
        #expect(try await ask(responder, about: stranger).responses.first?.status == .unknown)
        // The serial CUHK did issue, asked of as if another CA had issued it.
        #expect(
            try await ask(responder, about: certificate, issuer: Self.otherRoot.certificate).responses.first?.status
                == .unknown)
        // A SHA-256 CertID is understood too.
        let id = try OCSPCertificateID(certificate: certificate, issuer: Self.root.certificate, hashAlgorithm: .sha256)
        let answer = try OCSPResponseMessage(
            derEncoded: await responder.respond(
                to: OCSPRequestMessage(certificateIDs: [id]).derEncoded(), logger: Self.quiet))
        #expect(answer.responses.first?.status == .good)
    }

    @Test(arguments: [[], [0x30, 0x00], [0x30, 0x03, 0x02, 0x01, 0x05], Array("GET / HTTP/1.1".utf8)])
    func malformedRequestsGetMalformedRequest(_ bytes: [UInt8]) async throws {
        let (_, _, responder) = setUp()
        let response = try OCSPResponseMessage(derEncoded: await responder.respond(to: bytes, logger: Self.quiet))
        #expect(response.status == .malformedRequest)
        #expect(response.responses.isEmpty)
    }

    @Test func swiftCertificatesAcceptsGoodAndRefusesRevoked() async throws {
        let (authority, registry, responder) = setUp()
        let (issued, certificate) = try await authority.issue(csrPEM: makeCSR())
        func validate() async -> CertificateValidationResult {
            var verifier = Verifier(rootCertificates: CertificateStore([Self.root.certificate])) {
                ClientCertificatePolicy()  // handles the critical KeyUsage
                RFC5280Policy()
                OCSPVerifierPolicy(failureMode: .hard, requester: InProcessRequester(responder: responder))
            }
            return await verifier.validate(leaf: certificate, intermediates: CertificateStore())
        }
        let good = await validate()
        guard case .validCertificate = good else {
            Issue.record("swift-certificates did not accept a good response: \(good)")
            return
        }
        _ = try await registry.revoke(serial: issued.serial, reason: .affiliationChanged, at: Date())
        guard case .couldNotValidate(let failures) = await validate() else {
            Issue.record("swift-certificates accepted a revoked certificate")
            return
        }
        #expect(failures.contains { "\($0.policyFailureReason)".contains("revoked through OCSP") })
    }
}

/// Hands swift-certificates' requests straight to the responder.
struct InProcessRequester: OCSPRequester {
    let responder: OCSPResponder

    func query(request: [UInt8], uri: String) async -> OCSPRequesterQueryResult {
        #expect(uri == OCSPResponderTests.url)
        return .response(await responder.respond(to: request, logger: OCSPResponderTests.quiet))
    }
}
