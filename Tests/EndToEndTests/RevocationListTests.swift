import AsyncHTTPClient
import CampusAdmin
import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing
import X509

/// CUHK's revocation list at `GET /crl` on its OCSP port: signed by the root, signed again only when the
/// revocations change, and a poll that finds nothing new costs a 304.
@Suite struct RevocationListTests {
    static func get(_ url: String, ifNoneMatch tag: String? = nil) async throws
        -> (status: UInt, tag: String?, type: String?, body: [UInt8])
    {
        var request = HTTPClientRequest(url: url)
        if let tag { request.headers.add(name: "If-None-Match", value: tag) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        return (
            response.status.code, response.headers.first(name: "ETag"), response.headers.first(name: "Content-Type"),
            body
        )
    }

    @Test func theListIsSignedByTheRootAndChangesOnlyWithARevocation() async throws {
        try await LiveServers.with { servers in
            let url = "http://127.0.0.1:\(servers.ocspAddress.port)/crl"
            let root = servers.cuhk.authority.root
            let empty = try await Self.get(url)
            #expect(empty.status == 200 && empty.type == "application/pkix-crl")
            let first = try CertificateRevocationList(derEncoded: empty.body)
            #expect(first.isSigned(by: root.certificate) && first.entries.isEmpty)
            #expect(first.authorityKeyIdentifier == root.keyIdentifier)
            #expect(try #require(first.nextUpdate) > first.thisUpdate)

            // Nothing changed: the same list, and with its tag a 304 without a body.
            let again = try await Self.get(url)
            #expect(again.body == empty.body && again.tag == empty.tag)
            let unchanged = try await Self.get(url, ifNoneMatch: empty.tag)
            #expect(unchanged.status == 304 && unchanged.body.isEmpty)

            let credentials = try await servers.enroll(sid)
            _ = try await servers.cuhk.authority.registry.revokeAll(of: sid, reason: .keyCompromise, at: Date())
            let changed = try await Self.get(url, ifNoneMatch: empty.tag)
            #expect(changed.status == 200 && changed.tag != empty.tag)
            let second = try CertificateRevocationList(derEncoded: changed.body)
            #expect(second.isSigned(by: root.certificate))
            #expect(try #require(second.number) > #require(first.number))
            #expect(second.entries.map(\.serial) == [credentials.certificate.serialNumber.hex])
            #expect(second.entries.first?.reasonCode == 1)
            // Another root's list is not this one's.
            #expect(!second.isSigned(by: try RootAuthority.make().certificate))
        }
    }

    @Test(.enabled(if: OpenSSL.path != nil, "needs the openssl command"))
    func openSSLVerifiesTheList() async throws {
        try await LiveServers.with { servers in
            _ = try await servers.enroll(sid)
            _ = try await servers.cuhk.authority.registry.revokeAll(of: sid, reason: .affiliationChanged, at: Date())
            let list = try await Self.get("http://127.0.0.1:\(servers.ocspAddress.port)/crl")
            let path = SecureFile.join(servers.directory, "crl.der")
            try SecureFile.write(list.body, to: path, mode: 0o644, replacing: false)
            let verified = try OpenSSL.run([
                "crl", "-inform", "DER", "-in", path, "-CAfile", servers.rootPath, "-noout",
            ])
            #expect(verified.status == 0 && verified.output.contains("verify OK"), "\(verified.output)")
            let text = try OpenSSL.run(["crl", "-inform", "DER", "-in", path, "-noout", "-text"]).output
            #expect(text.contains("Version 2"), "\(text)")
            #expect(text.contains("X509v3 CRL Number"))
            #expect(text.contains("X509v3 Authority Key Identifier"))
            #expect(text.contains("Affiliation Changed"))
            #expect(text.contains("sha256WithRSAEncryption"))
        }
    }
}

/// Blackboard fetches the list every few seconds: a revocation refuses the certificate's next session although an
/// OCSP answer saying `good` is kept for an hour, ends its open session, and is recorded in blackboard.db.
@Suite struct RevocationListPollingTests {
    @Test func aRevocationEndsTheOpenSessionAndRefusesTheNextOne() async throws {
        let revokedStudent = StudentID("1155000001")!
        let otherStudent = StudentID("1155000002")!
        try await LiveServers.with(configureBlackboard: { $0.revocationListInterval = .milliseconds(200) }) { servers in
            let revoked = try await servers.enroll(revokedStudent, key: TestKeys.pool[0])
            let other = try await servers.enroll(otherStudent, key: TestKeys.pool[1])
            // A first report: the OCSP answer `good` is kept, and Blackboard watches the list beside the responder.
            let first = try await servers.uploader().upload([[1]], as: revoked).receipt.document
            #expect(
                servers.blackboard.revocationList.watchedURLs == ["http://127.0.0.1:\(servers.ocspAddress.port)/crl"])
            // The kept answer was checked once: the next handshakes are vouched for from it.
            #expect(servers.blackboard.ocspCache.vouchedCount == 1)

            let uploader = try servers.uploader()
            let (ended, otherReceipt) = try await FramedClient.withConnection(to: servers.blackboardAddress) {
                frames -> (CampusError?, UInt64?) in
                var records = try await uploader.handshake(on: frames, credentials: revoked).records
                try await frames.send(records.seal(Array("stored before the revocation".utf8)).0)
                #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
                // The session is open; CUHK revokes its certificate.
                _ = try await servers.cuhk.authority.registry.revokeAll(
                    of: revokedStudent, reason: .keyCompromise, at: Date())
                // Blackboard ends it with certificate-revoked, without anything more from the student.
                let answer = try await frames.receive().message
                // Another student's session is not affected.
                let receipt = try await servers.uploader().upload([[2]], as: other).receipt.document
                guard case .error(let error) = answer else { return (nil, receipt.messageCount) }
                return (error, receipt.messageCount)
            }
            #expect(ended?.code == .certificateRevoked)
            #expect(ended?.reason.contains("keyCompromise") == true)
            #expect(otherReceipt == 1)

            // The next session is refused, although OCSP's `good` is still kept.
            await #expect {
                _ = try await servers.uploader().upload([[3]], as: revoked)
            } throws: { error in
                guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
                return refusal.code == .certificateRevoked
            }
            // Recorded in blackboard.db, for the dashboard's mark on the report made before.
            let recorded = try await servers.blackboard.store.revocations()
            #expect(recorded.map(\.serial) == [revoked.certificate.serialNumber.hex])
            #expect(recorded.first?.reasonCode == 1)
            #expect(try await servers.blackboard.store.reports(for: revokedStudent).map(\.id) == [Int64(first.report)])
        }
    }

    /// A list that the trusted root did not sign, or that is older than the last one taken, teaches nothing.
    @Test func onlyTheTrustedRootsNewestListsAreTaken() async throws {
        let directory = try temporaryDirectory()
        let root = try RootAuthority.make()
        let rootPath = SecureFile.join(directory, "cuhk.cer")
        try SecureFile.write(root.certificatePEM, to: rootPath, mode: 0o644, replacing: false)
        let served = Served()
        let bound = BoundAddress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let router = Router()
                router.get("crl") { _, _ -> Response in
                    Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: served.bytes.withLock { $0 })))
                }
                try await HTTPServing.run(
                    router, host: "127.0.0.1", port: 0, limits: HTTPLimits(), bound: bound, what: "a list",
                    logger: LiveServers.quiet)
            }
            defer { group.cancelAll() }
            let port = try await bound.value().port ?? 0
            let store = InMemoryBlackboardStore()
            let revoked = RevokedCertificates()
            let poller = RevocationListPoller(
                interval: .seconds(60), roots: TrustedRootStore(path: rootPath), store: store, revoked: revoked,
                sessions: OpenSessions(), logger: LiveServers.quiet)
            poller.watch(responder: "http://127.0.0.1:\(port)/")
            func list(_ serial: String, number: UInt64, by signer: RootAuthority) throws -> [UInt8] {
                try CertificateRevocationList.signed(
                    [.init(serial: serial, revocationDate: Date(), reasonCode: 1)], number: number,
                    thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(3600),
                    signer: (signer.certificate, signer.privateKey), keyIdentifier: signer.keyIdentifier)
            }
            let forgedSerial = Certificate.SerialNumber().hex
            served.bytes.withLock { $0 = try! list(forgedSerial, number: 10, by: try! RootAuthority.make()) }
            await poller.pollOnce()
            #expect(revoked.count == 0)

            let serial = Certificate.SerialNumber().hex
            served.bytes.withLock { $0 = try! list(serial, number: 10, by: root) }
            await poller.pollOnce()
            #expect(revoked.revocation(of: serial)?.reasonCode == 1)
            #expect(try await store.revocations().map(\.serial) == [serial])

            let olderSerial = Certificate.SerialNumber().hex
            served.bytes.withLock { $0 = try! list(olderSerial, number: 9, by: root) }
            await poller.pollOnce()
            #expect(revoked.revocation(of: olderSerial) == nil && revoked.count == 1)
        }
    }

    @Test func theListIsBesideTheResponder() {
        #expect(RevocationListPoller.listURL(forResponder: "http://127.0.0.1:9336/") == "http://127.0.0.1:9336/crl")
        #expect(
            RevocationListPoller.listURL(forResponder: "http://cuhk.example.edu/ocsp/")
                == "http://cuhk.example.edu/ocsp/crl")
        #expect(
            RevocationListPoller.listURL(forResponder: "http://cuhk.example.edu/ocsp") == "http://cuhk.example.edu/crl")
        #expect(RevocationListPoller.listURL(forResponder: "ldap://cuhk.example.edu/") == nil)
    }
}

/// What a test's HTTP server answers.
final class Served: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
