import CampusAuthority
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite struct EnrollmentTests {
    @Test func fullEnrollmentSavesKeyAndCertificate() async throws {
        try await LiveServers.with { servers in
            let client = EnrollmentClient(
                configuration: .init(
                    directory: SecureFile.join(servers.directory, "fresh"),
                    certificateAuthority: servers.cuhkAddress
                )
            )
            let (credentials, outcome) = try await client.enroll(sid)
            #expect(outcome == .issued)
            let keyPath = StudentCredentials.keyPath(for: sid, in: client.configuration.directory)
            #expect(SecureFile.mode(of: keyPath) == 0o600)
            let saved = try #require(
                try SecureFile.readText(
                    at: StudentCredentials.certificatePath(for: sid, in: client.configuration.directory)))
            #expect(saved == credentials.certificatePEM)
            #expect(credentials.certificate.subject.studentID == sid)
            let registry = try await servers.cuhk.authority.registry.certificates(for: sid)
            #expect(registry.map(\.serial) == [credentials.certificate.serialNumber.hex])

            // A second run reuses the saved pair; --renew makes a new key and keeps the old one aside.
            let (again, secondOutcome) = try await client.enroll(sid)
            #expect(secondOutcome == .reused)
            #expect(again.certificatePEM == credentials.certificatePEM)
            var renewing = client
            renewing.configuration.renew = true
            let (renewed, renewedOutcome) = try await renewing.enroll(sid)
            #expect(renewedOutcome == .issued)
            #expect(renewed.certificate.publicKey != credentials.certificate.publicKey)
            let files = try FileManager.default.contentsOfDirectory(atPath: client.configuration.directory)
            #expect(files.contains { $0.hasPrefix("\(sid).key.") && $0.hasSuffix(".old") })
        }
    }

    @Test func fiftyConcurrentEnrollmentsGetDistinctSerials() async throws {
        try await LiveServers.with { servers in
            let students = (0..<50).map { StudentID(String(1_155_000_000 + $0))! }
            let serials = try await withThrowingTaskGroup(of: String.self) { group in
                for (index, student) in students.enumerated() {
                    let client = try servers.enrollment(for: student, key: TestKeys.pool[index % TestKeys.pool.count])
                    group.addTask { try await client.enroll(student).0.certificate.serialNumber.hex }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(serials.count == 50)
            #expect(Set(serials).count == 50)
            let recorded = try await servers.cuhk.authority.registry.certificates(for: nil)
            #expect(Set(recorded.map(\.serial)) == Set(serials))
            #expect(Set(recorded.map(\.studentID)) == Set(students))
        }
    }

    @Test func aRestartKeepsTheRootAndTheRegistry() async throws {
        let directory = try temporaryDirectory()
        let (firstRoot, firstSerial) = try await LiveServers.with(directory: directory) { servers in
            #expect(servers.cuhk.rootOrigin == .created)
            let credentials = try await servers.enroll(sid)
            return (servers.cuhk.authority.root.certificate, credentials.certificate.serialNumber.hex)
        }
        try await LiveServers.with(directory: directory) { servers in
            #expect(servers.cuhk.rootOrigin == .loaded)
            #expect(servers.cuhk.authority.root.certificate == firstRoot)
            let recorded = try await servers.cuhk.authority.registry.certificates(for: sid)
            #expect(recorded.map(\.serial) == [firstSerial])
        }
    }

    // MARK: Bad input: each gets its documented error, and the server goes on serving.

    func csr(
        cn: String = "1155123456", key: _RSA.Signing.PrivateKey = TestKeys.pool[1],
        algorithm: Certificate.SignatureAlgorithm = .sha256WithRSAEncryption
    ) throws -> String {
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(cn) },
            privateKey: Certificate.PrivateKey(key),
            attributes: .init(),
            signatureAlgorithm: algorithm
        )
        return try request.serializeAsPEM().pemString
    }

    func expectStillServing(_ servers: LiveServers) async throws {
        let certificate = try await requestCertificate(servers, csrPEM: try csr())
        #expect(certificate != nil)
    }

    func requestCertificate(_ servers: LiveServers, csrPEM: String) async throws -> String? {
        try await EnrollmentExchange.certificate(servers.cuhkAddress, csrPEM: csrPEM)
    }

    func refusal(_ servers: LiveServers, csrPEM: String) async throws -> CampusError.Code? {
        try await EnrollmentExchange.refusal(servers.cuhkAddress, csrPEM: csrPEM)
    }

    @Test func badFramesGetTheirErrors() async throws {
        // The timeout is short for the silent cases below, but long enough that a busy test machine never trips it
        // before the other cases are answered (6 s was tripped on a loaded 2-core machine).
        try await LiveServers.with(cuhkTimeout: .seconds(12)) { servers in
            let address = servers.cuhkAddress
            // An HTTP request: its first four bytes read as a length of about 1.2 GB.
            #expect(
                try await RawClient.errorCode(address, sending: Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .frameTooLarge)
            try await expectStillServing(servers)
            // A length above the 64 KiB maximum, refused before any payload is sent.
            #expect(try await RawClient.errorCode(address, sending: [0x00, 0x01, 0x00, 0x01]) == .frameTooLarge)
            // Garbage inside a well-formed frame.
            #expect(
                try await RawClient.errorCode(
                    address, sending: RawClient.frame([2, 0x07, 0xff, 0xff, 0xff, 0xff, 0x42])) == .malformedMessage)
            // A request of the enrollment without a channel, which was withdrawn: refused as such.
            let withdrawn = try await RawClient.exchange(address, sending: RawClient.frame([2, 0x01, 0, 0, 0, 0]))
            #expect(String(decoding: withdrawn, as: UTF8.self).contains("withdrawn"))
            #expect(
                try await RawClient.errorCode(address, sending: RawClient.frame([2, 0x03, 0, 0, 0, 0]))
                    == .unknownMessageType)
            // A version-1 Student's request.
            #expect(
                try await RawClient.errorCode(address, sending: RawClient.frame([1, 0x01, 0, 0, 0, 0]))
                    == .unsupportedVersion)
            #expect(try await RawClient.errorCode(address, sending: RawClient.frame([2, 0x66])) == .unknownMessageType)
            #expect(
                try await RawClient.errorCode(
                    address, sending: RawClient.frame(.keyConfirmation(mac: Array(repeating: 0, count: 32))))
                    == .unexpectedMessage)
            try await expectStillServing(servers)
            // A frame that stops half-way, then the client half-closes.
            #expect(
                try await RawClient.errorCode(address, sending: [0, 0, 0, 100, 1, 1], halfClose: true)
                    == .truncatedFrame)
            // A frame that stops half-way and a client that then says nothing.
            #expect(try await RawClient.errorCode(address, sending: [0, 0, 0, 100, 1, 1]) == .timeout)
            // A client that sends nothing at all.
            #expect(try await RawClient.errorCode(address, sending: []) == .timeout)
            try await expectStillServing(servers)
        }
    }

    @Test func badRequestsGetTheirErrors() async throws {
        try await LiveServers.with { servers in
            #expect(try await refusal(servers, csrPEM: "not PEM") == .malformedCSR)
            #expect(try await refusal(servers, csrPEM: try csr(cn: "student")) == .invalidSubject)
            #expect(try await refusal(servers, csrPEM: try csr(cn: "11551234567")) == .invalidSubject)
            #expect(try await refusal(servers, csrPEM: try csr(key: TestKeys.weak)) == .keyTooSmall)
            #expect(
                try await refusal(servers, csrPEM: try csr(algorithm: .sha1WithRSAEncryption))
                    == .weakSignatureAlgorithm)
            let document = try PEMDocument(pemString: try csr())
            var der = document.derBytes
            der[der.count - 5] ^= 0xff
            #expect(
                try await refusal(servers, csrPEM: PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).pemString)
                    == .invalidCSRSignature)
            try await expectStillServing(servers)
            #expect(try await servers.cuhk.authority.registry.certificates(for: nil).count == 1)
        }
    }

    @Test func aRefusalReachesTheStudentWithItsExitCode() async throws {
        try await LiveServers.with(cuhkMinimumKeyBits: 3072) { servers in
            let client = try servers.enrollment(for: sid)
            await #expect {
                _ = try await client.enroll(sid)
            } throws: { error in
                guard case .refusedByCUHK(let refusal) = error as? StudentError else { return false }
                return refusal.code == .keyTooSmall && (error as! StudentError).exitCode == 3
            }
        }
    }

    @Test func aSavedWeakKeyIsRefusedLocally() async throws {
        try await LiveServers.with { servers in
            let directory = SecureFile.join(servers.directory, "weak")
            try SecureFile.createDirectory(directory)
            try SecureFile.write(
                TestKeys.weak.pemRepresentation,
                to: StudentCredentials.keyPath(for: sid, in: directory),
                mode: SecureFile.privateMode,
                replacing: false
            )
            let client = EnrollmentClient(
                configuration: .init(directory: directory, certificateAuthority: servers.cuhkAddress))
            await #expect {
                _ = try await client.enroll(sid)
            } throws: { error in
                guard case .local(let reason) = error as? StudentError else { return false }
                return reason.contains("1024-bit key") && reason.contains("--renew")
            }
        }
    }

    @Test func anUnreachableCAIsANetworkError() async throws {
        let client = EnrollmentClient(
            configuration: .init(
                directory: try temporaryDirectory(), certificateAuthority: ServerAddress(host: "127.0.0.1", port: 1))
        )
        await #expect {
            _ = try await client.enroll(sid)
        } throws: { error in
            guard case .network = error as? StudentError else { return false }
            return (error as! StudentError).exitCode == 5
        }
    }
}
