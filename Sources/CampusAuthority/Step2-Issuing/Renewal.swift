import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Renewal: a student whose certificate is still good (or expired within the grace period, and not revoked) gets a
/// new one for a new key, authorized by the current certificate instead of an enrollment code, inside the
/// enrollment channel.
///
/// 1. The student sends, sealed, its current certificate, a new CSR and a ``RenewalProof`` signed with the current
///    key over the channel's transcript hash and the new CSR. CUHK checks the certificate: that it issued it, that it
///    verifies now (or at its expiry, up to ``EnrollmentChannel/renewalGraceDays`` days after it), and that it is not
///    revoked, except as superseded by a renewal.
/// 2. CUHK checks the proof and the CSR (the issuing policy, the same SID), issues the new certificate, and in one
///    transaction records it and revokes the old one as `superseded`. A renewal whose answer was lost is answered
///    with the certificate already recorded for it (same old certificate, same new key); any other request for a
///    superseded certificate is refused.
extension CertificateAuthority {
    /// Where a certificate presented for renewal stands.
    public enum RenewalStanding: Sendable {
        /// Issued by this CUHK and not revoked.
        case good(IssuedCertificate)
        /// Revoked as superseded: renewed (or replaced by a new enrollment) already.
        case superseded(IssuedCertificate)
    }

    /// Step 1: the certificate that may renew.
    ///
    /// - Returns: The parsed certificate and where it stands.
    /// - Throws: ``CampusError`` with `renewal-denied` (a certificate that cannot be read included).
    public func certificateToRenew(pem: String, now: Date = Date()) async throws -> (Certificate, RenewalStanding) {
        try await observingRefusal { try await certificateToRenewUnobserved(pem: pem, now: now) }
    }

    private func certificateToRenewUnobserved(pem: String, now: Date) async throws
        -> (Certificate, RenewalStanding)
    {
        let certificate: Certificate
        do {
            certificate = try StudentCertificateVerifier.parseCertificate(pem: pem)
        } catch let error as CampusError {
            throw CampusError(
                .renewalDenied, "the certificate to renew cannot be read (\(error.reason))", detail: "\(error)")
        }
        guard let studentID = certificate.subject.studentID else {
            throw CampusError(.renewalDenied, "the certificate does not name a student")
        }
        let graceEnds = certificate.notValidAfter.addingTimeInterval(EnrollmentChannel.renewalGrace)
        if now > graceEnds {
            throw CampusError(
                .renewalDenied,
                "the certificate expired at \(certificate.notValidAfter.formatted(.iso8601)), more than "
                    + "\(EnrollmentChannel.renewalGraceDays) days ago; enroll again with a new code")
        }
        // Within the grace period an expired certificate is checked as it was when it expired.
        let checkedAt = min(now, certificate.notValidAfter)
        do {
            _ = try await StudentCertificateVerifier(
                root: root.certificate, minimumKeyBits: configuration.minimumKeyBits
            )
            .verify(certificatePEM: pem, for: studentID, at: checkedAt)
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
            return (certificate, .good(issued))
        case .revoked(let issued, let revocation) where revocation.reason == .superseded:
            return (certificate, .superseded(issued))
        case .revoked(_, let revocation):
            throw CampusError(
                .renewalDenied,
                "the certificate was revoked (\(revocation.reason.rawValue)); enroll again with a new code")
        case .unknown:
            throw CampusError(.renewalDenied, "this CUHK has no record of the certificate")
        }
    }

    /// Step 2: checks the proof and issues the new certificate (or sends again the one a lost answer carried).
    ///
    /// - Parameters:
    ///   - current: The certificate being renewed, from ``certificateToRenew(pem:now:)``.
    ///   - standing: Where it stands.
    ///   - transcriptDigest: The enrollment channel's TH_hov, which the proof covers.
    /// - Throws: ``CampusError`` with `renewal-proof-failed`, `renewal-denied`, or the issuing policy's codes.
    public func renew(
        _ current: Certificate, standing: RenewalStanding, transcriptDigest: [UInt8], csrPEM: String,
        signature: [UInt8], now: Date = Date()
    ) async throws -> (IssuedCertificate, Certificate) {
        try await observingIssuance {
            try await renewUnobserved(
                current, standing: standing, transcriptDigest: transcriptDigest, csrPEM: csrPEM, signature: signature,
                now: now)
        }
    }

    private func renewUnobserved(
        _ current: Certificate, standing: RenewalStanding, transcriptDigest: [UInt8], csrPEM: String,
        signature: [UInt8], now: Date
    ) async throws -> (IssuedCertificate, Certificate) {
        let document: PEMDocument
        do {
            document = try PEMDocument.parse(csrPEM, expecting: CertificateSigningRequest.defaultPEMDiscriminator)
        } catch {
            throw CampusError(.malformedCSR, "the CSR is not valid PEM")
        }
        guard let currentKey = _RSA.Signing.PublicKey(current.publicKey),
            RenewalProof.isValid(
                signature, transcriptDigest: transcriptDigest, csrDER: document.derBytes, publicKey: currentKey)
        else {
            throw CampusError(
                .renewalProofFailed,
                "the renewal proof does not verify with the current certificate's key for this channel and CSR")
        }
        let request = try parse(csrPEM: csrPEM).request
        if let refusal = policy.evaluate(request) { throw refusal }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CampusError(.invalidCSRSignature, "the CSR's signature does not verify with its own public key")
        }
        guard let studentID = request.subject.studentID, studentID == current.subject.studentID else {
            throw CampusError(.renewalDenied, "the new CSR must name the same student as the current certificate")
        }
        let oldSerial = current.serialNumber.hex
        if case .superseded = standing {
            return try await renewedAlready(oldSerial, for: request)
        }
        // The renewal stands where the renewed certificate stands (the registry works this out again when it records).
        let inherited = if case .good(let record) = standing { record.isRosterAuthorized } else { false }
        while true {
            let certificate = try makeCertificate(for: studentID, publicKey: request.publicKey, now: now)
            let issued = IssuedCertificate(
                serial: certificate.serialNumber.hex, studentID: studentID,
                notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
                pem: try certificate.serializeAsPEM().text, issuedAt: now, authorization: .renewal(of: oldSerial),
                isRosterAuthorized: inherited)
            do {
                try await registry.record(issued, superseding: oldSerial, at: now)
                return (issued, certificate)
            } catch RegistryError.duplicateSerial {
                continue
            } catch RegistryError.alreadyRevoked {
                // Renewed by a request racing this one: the same key gets that certificate.
                return try await renewedAlready(oldSerial, for: request)
            } catch {
                throw CampusError(
                    .issuanceFailed, "the certificate could not be recorded, so it was not issued", storing: error)
            }
        }
    }

    /// The certificate recorded as the renewal of `oldSerial`, when it is still good and for the new CSR's key: the
    /// answer to a renewal that is tried again after its answer was lost.
    private func renewedAlready(_ oldSerial: String, for request: CertificateSigningRequest) async throws
        -> (IssuedCertificate, Certificate)
    {
        if let renewed = try await registry.renewal(of: oldSerial),
            case .good = try await registry.status(ofSerial: renewed.serial),
            let certificate = try? Certificate(pemEncoded: renewed.pem), certificate.publicKey == request.publicKey
        {
            return (renewed, certificate)
        }
        throw CampusError(
            .renewalDenied,
            "the certificate was renewed or replaced already (for another key); use the newer certificate, or enroll "
                + "again with a new code")
    }
}
