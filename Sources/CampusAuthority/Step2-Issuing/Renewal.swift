import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Renewal: a student whose certificate is still good gets a new one for a new key, authorized by the current
/// certificate instead of an enrollment code.
///
/// 1. The student sends its current certificate; CUHK checks that it issued it, that it is valid now and not
///    revoked, and answers with a fresh 32-byte nonce.
/// 2. The student sends a new CSR and a ``RenewalProof`` signed with the current key over the nonce and the CSR.
/// 3. CUHK checks the proof and the CSR (the issuing policy, the same SID), issues the new certificate, and in one
///    transaction records it and revokes the old one as `superseded`. A revoked or expired certificate cannot
///    renew: its owner needs a new enrollment code.
extension CertificateAuthority {
    /// Step 1: the certificate that may renew.
    ///
    /// - Returns: The parsed certificate and its registry record.
    /// - Throws: ``CampusError`` with `renewal-denied`, or `malformed-certificate`.
    public func certificateToRenew(pem: String, now: Date = Date()) async throws -> (Certificate, IssuedCertificate) {
        try await observingRefusal { try await certificateToRenewUnobserved(pem: pem, now: now) }
    }

    private func certificateToRenewUnobserved(pem: String, now: Date) async throws
        -> (Certificate, IssuedCertificate)
    {
        let certificate = try StudentCertificateVerifier.parseCertificate(pem: pem)
        guard let studentID = certificate.subject.studentID else {
            throw CampusError(.renewalDenied, "the certificate does not name a student")
        }
        do {
            _ = try await StudentCertificateVerifier(
                root: root.certificate, minimumKeyBits: configuration.minimumKeyBits
            )
            .verify(certificatePEM: pem, for: studentID, at: now)
        } catch let error as CampusError {
            throw CampusError(
                .renewalDenied,
                "the certificate cannot renew (\(error.reason)); enroll again with a new code", detail: "\(error)")
        }
        switch try await registry.status(ofSerial: certificate.serialNumber.hex) {
        case .good(let issued):
            if case .roster = enrollment, !issued.isRosterAuthorized {
                // A certificate anyone could have taken while enrollment was open must not become a roster
                // student's by renewal: its holder proves who they are with a code, like everyone else.
                throw CampusError(
                    .renewalDenied,
                    "this certificate goes back to open enrollment (or to before CUHK recorded how certificates "
                        + "were authorized), not to an enrollment code, and CUHK now enrolls only students on its "
                        + "roster: renewing it needs a code; enroll again with a one-time code from the course's staff",
                    detail: "serial \(issued.serial), authorization \(issued.authorization.stored)")
            }
            return (certificate, issued)
        case .revoked(_, let revocation):
            throw CampusError(
                .renewalDenied,
                "the certificate was revoked (\(revocation.reason.rawValue)); enroll again with a new code")
        case .unknown:
            throw CampusError(.renewalDenied, "this CUHK has no record of the certificate")
        }
    }

    /// A fresh nonce from the system CSPRNG.
    public static func renewalNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<WireMessage.renewalNonceLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Steps 2–3: checks the proof and issues the new certificate.
    ///
    /// - Throws: ``CampusError`` with `renewal-proof-failed`, `renewal-denied`, or the issuing policy's codes.
    public func renew(
        _ current: Certificate, nonce: [UInt8], csrPEM: String, signature: [UInt8], now: Date = Date()
    ) async throws -> (IssuedCertificate, Certificate) {
        try await observingIssuance {
            try await renewUnobserved(current, nonce: nonce, csrPEM: csrPEM, signature: signature, now: now)
        }
    }

    private func renewUnobserved(
        _ current: Certificate, nonce: [UInt8], csrPEM: String, signature: [UInt8], now: Date
    ) async throws -> (IssuedCertificate, Certificate) {
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: csrPEM)
        } catch {
            throw CampusError(.malformedCSR, "the CSR is not valid PEM")
        }
        guard let currentKey = _RSA.Signing.PublicKey(current.publicKey),
            RenewalProof.isValid(signature, nonce: nonce, csrDER: document.derBytes, publicKey: currentKey)
        else {
            throw CampusError(
                .renewalProofFailed,
                "the renewal proof does not verify with the current certificate's key for this challenge")
        }
        let request = try parse(csrPEM: csrPEM)
        if let refusal = policy.evaluate(request) { throw refusal }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CampusError(.invalidCSRSignature, "the CSR's signature does not verify with its own public key")
        }
        guard let studentID = request.subject.studentID, studentID == current.subject.studentID else {
            throw CampusError(.renewalDenied, "the new CSR must name the same student as the current certificate")
        }
        let oldSerial = current.serialNumber.hex
        // The renewal stands where the renewed certificate stands (the registry works this out again when it records).
        let inherited =
            if case .good(let record) = try? await registry.status(ofSerial: oldSerial) {
                record.isRosterAuthorized
            } else {
                false
            }
        while true {
            let certificate = try makeCertificate(for: studentID, publicKey: request.publicKey, now: now)
            let issued = IssuedCertificate(
                serial: certificate.serialNumber.hex, studentID: studentID,
                notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
                pem: try certificate.serializeAsPEM().pemString, issuedAt: now, authorization: .renewal(of: oldSerial),
                isRosterAuthorized: inherited)
            do {
                try await registry.record(issued, superseding: oldSerial, at: now)
                return (issued, certificate)
            } catch RegistryError.duplicateSerial {
                continue
            } catch RegistryError.alreadyRevoked {
                throw CampusError(.renewalDenied, "the certificate was renewed or revoked meanwhile")
            } catch {
                throw CampusError(
                    .issuanceFailed, "the certificate could not be recorded, so it was not issued", cause: error)
            }
        }
    }
}
