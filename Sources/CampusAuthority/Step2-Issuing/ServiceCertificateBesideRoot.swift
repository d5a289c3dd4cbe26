import CampusPKI
import Crypto
import Foundation
import X509

/// Blackboard's certificate and key beside CUHK's root (`blackboard.key`, 0600, and `blackboard.cer` in CUHK's
/// directory), where a Blackboard run in the seed's single directory finds them: `cuhk init` and `cuhk serve` make
/// them whenever no certificate for the name is recorded and neither file exists.
///
/// The issuing is crash-safe and can be repeated. Like a new root, the pair is written whole into a staging
/// directory (`.<name>-new`), then recorded in `cuhk.db`, then published with `link(2)`, key first. A start after a
/// crash finishes a recorded staged pair, and discards one that was never recorded (nothing was issued then, so it
/// is issued again). A valid (unrevoked, unexpired) certificate recorded for the name whose files are not here was
/// taken elsewhere (`cuhk service issue --out`, or moved to Blackboard's machine), and nothing is issued beside the
/// root.
public enum ServiceCertificateBesideRoot {
    /// The points of the issuing at which a crash leaves something behind; tests stop there.
    public enum Step: String, Sendable, CaseIterable {
        /// Key and certificate are in the staging directory.
        case stagedService
        /// The certificate is recorded in `cuhk.db`.
        case recordedService
        /// `<name>.key` is published; `<name>.cer` is not yet.
        case publishedServiceKey
        /// Both are published; the staging directory is still there.
        case publishedServiceCertificate
    }

    /// What came of it.
    public enum Outcome: Sendable, Equatable {
        /// A new certificate was issued and written.
        case issued(serial: String)
        /// The publication of a certificate issued before a crash was finished.
        case finished(serial: String)
        /// Both files are here already.
        case present
        /// A valid certificate for the name is recorded, but its files are not here: nothing was issued.
        case recordedElsewhere(serial: String)
        /// Only one of the two files is here: nothing was touched.
        case onlyOneFile(present: String, missing: String)
    }

    /// The staging directory of `name` in `directory`.
    public static func stagingPath(name: String, in directory: String) -> String {
        SecureFile.join(directory, ".\(name)-new")
    }

    /// Issues the service certificate for `name` beside the root in `directory` unless it is there or recorded, and
    /// finishes or discards an issuing a crash interrupted.
    ///
    /// - Parameters:
    ///   - ocspURL: CUHK's OCSP responder, for the certificate's Authority Information Access.
    ///   - evenIfRecorded: Issue even when a valid certificate for the name is recorded (`campus-demo`, whose
    ///     directory is its own: see ``retireIfItNamesAnotherResponder(name:in:ocspURL:now:)``).
    ///   - checkpoint: Called after each step of a new issuing (crash tests stop there).
    /// - Throws: ``CampusError`` (`issuance-failed`) or ``FileError`` when a file cannot be written, or when an
    ///   unfinished issuing does not match a published file.
    public static func ensure(
        name: String, in directory: String, root: RootAuthority, registry: any AuthorityStore,
        ocspURL: String?, validityDays: Int = 365, now: Date = Date(), evenIfRecorded: Bool = false,
        checkpoint: (Step) throws -> Void = { _ in }
    ) async throws -> Outcome {
        let keyPath = ServiceCertificate.keyPath(name: name, in: directory)
        let certificatePath = ServiceCertificate.certificatePath(name: name, in: directory)
        let staging = stagingPath(name: name, in: directory)
        let recorded = try await registry.serviceCertificates().filter { $0.name == name }

        if SecureFile.exists(staging) {
            let staged = try? load(
                keyPath: ServiceCertificate.keyPath(name: name, in: staging),
                certificatePath: ServiceCertificate.certificatePath(name: name, in: staging))
            if let staged, recorded.contains(where: { $0.serial == staged }) {
                try publish(name: name, from: staging, to: directory)
                try remove(staging)
                return .finished(serial: staged)
            }
            // Never recorded, so never issued: a crash before the record. Start again.
            try remove(staging)
        }
        switch (SecureFile.exists(keyPath), SecureFile.exists(certificatePath)) {
        case (true, true): return .present
        case (true, false): return .onlyOneFile(present: keyPath, missing: certificatePath)
        case (false, true): return .onlyOneFile(present: certificatePath, missing: keyPath)
        case (false, false): break
        }
        if !evenIfRecorded, let earlier = recorded.last(where: { $0.status(at: now) == "valid" }) {
            return .recordedElsewhere(serial: earlier.serial)
        }

        let service = try ServiceCertificate.make(
            name: name, root: root, validityDays: validityDays, ocspURL: ocspURL, now: now)
        try SecureFile.createDirectory(staging)
        try service.write(name: name, to: staging)
        try checkpoint(.stagedService)
        try await service.record(name: name, in: registry, now: now)
        try checkpoint(.recordedService)
        try SecureFile.link(ServiceCertificate.keyPath(name: name, in: staging), to: keyPath)
        try checkpoint(.publishedServiceKey)
        try SecureFile.link(ServiceCertificate.certificatePath(name: name, in: staging), to: certificatePath)
        try checkpoint(.publishedServiceCertificate)
        try remove(staging)
        return .issued(serial: service.certificate.serialNumber.hex)
    }

    /// Moves the certificate beside the root aside when it names another OCSP responder than `ocspURL` (a CUHK
    /// started on a free port again, as `campus-demo --dir` is), as `<name>.key.<unix time>.old` and
    /// `<name>.cer.<unix time>.old`, so that a new one can be issued. It is not revoked: its key is not known to
    /// anyone else, and the receipts it signed stay good while it is valid (a revoked signer fails every receipt,
    /// since a receipt's time is only Blackboard's word).
    ///
    /// - Returns: The serial of the certificate moved aside, or `nil` when nothing was.
    public static func retireIfItNamesAnotherResponder(
        name: String, in directory: String, ocspURL: String?, now: Date = Date()
    ) throws -> String? {
        let keyPath = ServiceCertificate.keyPath(name: name, in: directory)
        let certificatePath = ServiceCertificate.certificatePath(name: name, in: directory)
        guard let ocspURL, let pem = try SecureFile.readText(at: certificatePath),
            let certificate = try? Certificate(pemEncoded: pem), certificate.ocspResponderURLs != [ocspURL]
        else { return nil }
        try SecureFile.moveAside([keyPath, certificatePath], at: now)
        return certificate.serialNumber.hex
    }

    /// The serial of a staged pair whose key belongs to its certificate.
    static func load(keyPath: String, certificatePath: String) throws -> String? {
        guard let keyPEM = try SecureFile.readText(at: keyPath),
            let certificatePEM = try SecureFile.readText(at: certificatePath)
        else { return nil }
        let certificate = try Certificate(pemEncoded: certificatePEM)
        let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else { return nil }
        return certificate.serialNumber.hex
    }

    /// Publishes what of the staged pair is not published yet; a published file that differs stops everything.
    static func publish(name: String, from staging: String, to directory: String) throws {
        for path in [ServiceCertificate.keyPath, ServiceCertificate.certificatePath] {
            let staged = path(name, staging)
            let published = path(name, directory)
            if !SecureFile.exists(published) {
                try SecureFile.link(staged, to: published)
            } else if try SecureFile.readBytes(at: published) != SecureFile.readBytes(at: staged) {
                throw CampusError(
                    .issuanceFailed,
                    "an unfinished issuing of \(name)'s certificate in \(staging) does not match \(published); "
                        + "move one of them away")
            }
        }
    }

    private static func remove(_ staging: String) throws {
        try FileManager.default.removeItem(atPath: staging)
        SecureFile.syncDirectory(SecureFile.parentDirectory(of: staging))
    }
}
