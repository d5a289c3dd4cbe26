import CampusPKI
import Foundation
import Testing
import X509

@testable import CampusAuthority

@Suite struct RootAuthorityTests {
    @Test func createsThenReloadsTheSameRoot() throws {
        let directory = try temporaryDirectory()
        let (created, firstOrigin) = try RootAuthority.load(or: .init(directory: directory))
        #expect(firstOrigin == .created)
        let keyPath = SecureFile.join(directory, "cuhk.key")
        #expect(SecureFile.mode(of: keyPath) == 0o600)
        let keyBefore = try SecureFile.readText(at: keyPath)

        let (loaded, secondOrigin) = try RootAuthority.load(or: .init(directory: directory))
        #expect(secondOrigin == .loaded)
        #expect(loaded.certificate == created.certificate)
        #expect(try SecureFile.readText(at: keyPath) == keyBefore)
    }

    @Test func rootCertificateHasTheRequiredFields() throws {
        let root = try RootAuthority.make()
        let certificate = root.certificate
        #expect(certificate.version == .v3)
        #expect(certificate.signatureAlgorithm == .sha256WithRSAEncryption)
        #expect(certificate.subject == certificate.issuer)
        #expect(certificate.subject.commonNames == ["CUHK Root CA"])
        #expect(certificate.serialNumber.bytes.count >= 8)
        let years = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) / (365 * 86_400)
        #expect(years > 9.9 && years < 10.1)
        #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign && !usage.digitalSignature)
        #expect(certificate.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
    }

    @Test func refusesAKeyThatDoesNotMatchTheCertificate() throws {
        let directory = try temporaryDirectory()
        _ = try RootAuthority.load(or: .init(directory: directory))
        let other = try RootAuthority.make()
        let certificatePath = SecureFile.join(directory, "cuhk.cer")
        try SecureFile.write(other.certificatePEM, to: certificatePath, mode: 0o644, replacing: true)
        #expect(throws: RootAuthority.LoadError.self) { try RootAuthority.load(or: .init(directory: directory)) }
        do {
            _ = try RootAuthority.load(or: .init(directory: directory))
        } catch let error as RootAuthority.LoadError {
            guard case .keyDoesNotMatchCertificate = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
    }

    @Test(arguments: ["cuhk.key", "cuhk.cer"])
    func refusesToStartWithOnlyOneFile(removing name: String) throws {
        let directory = try temporaryDirectory()
        _ = try RootAuthority.load(or: .init(directory: directory))
        let kept = name == "cuhk.key" ? "cuhk.cer" : "cuhk.key"
        let keptBefore = try SecureFile.readText(at: SecureFile.join(directory, kept))
        #expect(unlink(SecureFile.join(directory, name)) == 0)
        #expect {
            try RootAuthority.load(or: .init(directory: directory))
        } throws: { error in
            guard case .onlyOneFilePresent = error as? RootAuthority.LoadError else { return false }
            return true
        }
        // Nothing was written: the remaining file is untouched and the missing one was not recreated.
        #expect(try SecureFile.readText(at: SecureFile.join(directory, kept)) == keptBefore)
        #expect(!SecureFile.exists(SecureFile.join(directory, name)))
    }

    @Test func refusesAnUnreadableKey() throws {
        let directory = try temporaryDirectory()
        _ = try RootAuthority.load(or: .init(directory: directory))
        let keyPath = SecureFile.join(directory, "cuhk.key")
        try SecureFile.write("not a key", to: keyPath, mode: 0o600, replacing: true)
        #expect(throws: RootAuthority.LoadError.self) { try RootAuthority.load(or: .init(directory: directory)) }
    }

    @Test func privateKeysAreNeverOverwritten() throws {
        let directory = try temporaryDirectory()
        let path = SecureFile.join(directory, "x.key")
        try SecureFile.write("first", to: path, mode: SecureFile.privateMode, replacing: false)
        #expect(throws: FileError.alreadyExists(path)) {
            try SecureFile.write("second", to: path, mode: SecureFile.privateMode, replacing: false)
        }
        #expect(try SecureFile.readText(at: path) == "first")
    }
}
