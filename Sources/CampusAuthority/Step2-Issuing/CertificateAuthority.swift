import CampusPKI
import Foundation
import Logging
import SwiftASN1
import X509
import _CryptoExtras

/// Seed step 2: CUHK turns a student's CSR into cert 2.
///
/// The request is parsed, its signature algorithm and its own signature are checked (the original skipped
/// the signature, so anyone could ask for a certificate on someone else's key), the ``IssuingPolicy`` decides,
/// and the certificate is built from CUHK's own template — nothing else in the CSR is copied — signed with the
/// root key, recorded durably, and only then returned.
public struct CertificateAuthority: Sendable {
    /// How certificates are issued.
    public struct Configuration: Sendable {
        /// Validity of cert 2, in days.
        public var validityDays: Int
        /// How far in the past a certificate starts, for clocks that run behind.
        public var clockSkewAllowance: TimeInterval
        /// The smallest RSA key accepted in a CSR.
        public var minimumKeyBits: Int
        /// The OCSP responder's URL, written in each certificate's Authority Information Access extension;
        /// `nil` writes none (and Blackboard then cannot check the certificate's revocation).
        public var ocspURL: String?

        public init(
            validityDays: Int = 365, clockSkewAllowance: TimeInterval = 5 * 60, minimumKeyBits: Int = 2048,
            ocspURL: String? = nil
        ) {
            self.validityDays = validityDays
            self.clockSkewAllowance = clockSkewAllowance
            self.minimumKeyBits = minimumKeyBits
            self.ocspURL = ocspURL
        }
    }

    public let root: RootAuthority
    public let registry: any CertificateRegistry
    public internal(set) var configuration: Configuration
    public let policy: IssuingPolicy
    /// Who may enroll: anyone (the seed's way) or the roster's students with their codes.
    public let enrollment: EnrollmentPolicy
    /// The roster and codes; needed for ``EnrollmentPolicy/roster(_:)``.
    public let roster: (any EnrollmentRoster)?
    /// Hears every certificate issued (``AuthorityEvent/issued(serial:studentID:duration:)``) and every refusal
    /// (``AuthorityEvent/refused(_:)``), enrollments and renewals alike.
    public let events: AuthorityEventSink

    public init(
        root: RootAuthority,
        registry: any CertificateRegistry,
        configuration: Configuration = Configuration(),
        policy: IssuingPolicy? = nil,
        enrollment: EnrollmentPolicy = .open,
        roster: (any EnrollmentRoster)? = nil,
        events: @escaping AuthorityEventSink = { _ in }
    ) {
        self.root = root
        self.registry = registry
        self.configuration = configuration
        self.policy = policy ?? .standard(minimumKeyBits: configuration.minimumKeyBits)
        self.enrollment = enrollment
        self.roster = roster
        self.events = events
    }

    /// Issues cert 2 for a PEM CSR.
    ///
    /// - Parameters:
    ///   - csrPEM: The request, PEM (`CERTIFICATE REQUEST`).
    ///   - code: The student's one-time enrollment code, as typed; required under ``EnrollmentPolicy/roster(_:)``.
    ///   - now: The issuing time.
    /// - Returns: The recorded certificate and the parsed certificate.
    /// - Throws: ``CampusError`` with the code of the first check that failed.
    public func issue(csrPEM: String, code: String? = nil, now: Date = Date()) async throws
        -> (IssuedCertificate, Certificate)
    {
        try await observingIssuance { try await issueUnobserved(csrPEM: csrPEM, code: code, now: now) }
    }

    /// Runs an issuance, telling ``events`` what came of it: the certificate and how long it took, or the refusal.
    func observingIssuance(_ work: () async throws -> (IssuedCertificate, Certificate)) async throws
        -> (IssuedCertificate, Certificate)
    {
        let started = ContinuousClock.now
        let result = try await observingRefusal(work)
        events(
            .issued(
                serial: result.0.serial, studentID: result.0.studentID, duration: ContinuousClock.now - started))
        return result
    }

    /// Runs `work`, telling ``events`` the code of the error it throws.
    func observingRefusal<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch {
            events(.refused((error as? CampusError)?.code ?? .internalError))
            throw error
        }
    }

    private func issueUnobserved(csrPEM: String, code: String?, now: Date) async throws
        -> (IssuedCertificate, Certificate)
    {
        let request = try parse(csrPEM: csrPEM)
        // The policy looks only at what the request says, so it runs first: a SHA-1 request is told that its
        // algorithm is weak rather than that its signature cannot be checked.
        if let refusal = policy.evaluate(request) { throw refusal }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CampusError(.invalidCSRSignature, "the CSR's signature does not verify with its own public key")
        }
        guard let studentID = request.subject.studentID else {
            throw CampusError(.invalidSubject, "the CSR does not name a student")  // the policy already checks
        }
        let paidWith = try await admit(studentID, code: code, now: now)

        while true {
            let certificate = try makeCertificate(for: studentID, publicKey: request.publicKey, now: now)
            let issued = IssuedCertificate(
                serial: certificate.serialNumber.hex,
                studentID: studentID,
                notValidBefore: certificate.notValidBefore,
                notValidAfter: certificate.notValidAfter,
                pem: try certificate.serializeAsPEM().pemString,
                issuedAt: now,
                authorization: paidWith == nil ? .openEnrollment : .enrollmentCode,
                isRosterAuthorized: paidWith != nil
            )
            do {
                if let paidWith, let roster {
                    // The code is consumed in the transaction that records the certificate: of two requests with
                    // one code, exactly one is recorded.
                    try await roster.record(issued, consuming: paidWith, at: now)
                } else {
                    try await registry.record(issued)
                }
                return (issued, certificate)
            } catch RegistryError.duplicateSerial {
                continue  // 126 random bits collided; draw again.
            } catch RegistryError.codeAlreadyUsed {
                throw Self.codeUsed
            } catch {
                // Nothing is sent unless it is recorded.
                throw CampusError(
                    .issuanceFailed, "the certificate could not be recorded, so it was not issued", cause: error)
            }
        }
    }

    static let codeUsed = CampusError(.codeUsed, "this enrollment code was used already; ask for a new one")

    /// Under the roster policy: whether the student may enroll with `code`, checked (and counted) before
    /// anything is signed.
    ///
    /// - Returns: The code to consume when the certificate is recorded; `nil` under the open policy.
    func admit(_ studentID: StudentID, code: String?, now: Date) async throws -> EnrollmentCode? {
        guard case .roster(let lockout) = enrollment else { return nil }
        guard let roster else {
            throw CampusError(.internalError, "the server could not complete the request", detail: "no roster store")
        }
        let parsed = code.flatMap(EnrollmentCode.init)
        let admission: Admission
        do {
            admission = try await roster.admit(studentID, code: parsed, at: now, lockout: lockout)
        } catch {
            throw CampusError(
                .issuanceFailed, "the enrollment could not be checked, so it was not issued", cause: error)
        }
        switch admission {
        case .admitted:
            return parsed
        case .denied(let detail):
            // One answer whether the SID is unknown or the code wrong, so the roster cannot be probed; the log
            // keeps which it was.
            let reason =
                code == nil
                ? "CUHK enrolls only students on its roster, each with a one-time enrollment code from the course's "
                    + "staff; give it with --code"
                : "this student ID and enrollment code do not match an enrollment; check both, or ask for a new code"
            throw CampusError(.enrollmentDenied, reason, detail: "SID \(studentID): \(detail)")
        case .expired:
            throw CampusError(.codeExpired, "this enrollment code has expired; ask for a new one")
        case .used:
            throw Self.codeUsed
        case .locked(let until):
            throw CampusError(
                .enrollmentLocked,
                "too many wrong codes for this student ID; try again after \(until.formatted(.iso8601))")
        }
    }

    /// Parses a PEM CSR, telling a too-small RSA key apart from other damage.
    func parse(csrPEM: String) throws -> CertificateSigningRequest {
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: csrPEM)
        } catch {
            throw CampusError(.malformedCSR, "the CSR is not valid PEM")
        }
        guard document.discriminator == "CERTIFICATE REQUEST" || document.discriminator == "NEW CERTIFICATE REQUEST"
        else {
            throw CampusError(.malformedCSR, "expected a CERTIFICATE REQUEST PEM block, got \(document.discriminator)")
        }
        if let algorithm = RSAKeyInspector.signatureAlgorithm(inCSR: document.derBytes),
            let refusal = SignatureAlgorithmRule.refusal(for: algorithm)
        {
            // Checked before parsing: swift-certificates cannot parse a request signed with MD5 or ECDSA-SHA-1,
            // and such a request should hear that its algorithm is weak, not that it is malformed.
            throw refusal
        }
        do {
            return try CertificateSigningRequest(derEncoded: document.derBytes)
        } catch {
            if let bits = RSAKeyInspector.keySize(inCSR: document.derBytes), bits < configuration.minimumKeyBits {
                throw CampusError(
                    .keyTooSmall,
                    "the key has \(bits) bits; at least \(configuration.minimumKeyBits) are required"
                )
            }
            throw CampusError(.malformedCSR, "the CSR is not a valid PKCS#10 certificate request", cause: error)
        }
    }

    /// Cert 2 from CUHK's template: subject `CN=<SID>` plus the root's O/OU, CA:FALSE, digitalSignature +
    /// keyEncipherment, clientAuth, SubjectAlternativeName (the subject again, as a directory name), SKI and AKI,
    /// and, when CUHK runs its OCSP responder, Authority Information Access with the responder's URL.
    func makeCertificate(for studentID: StudentID, publicKey: Certificate.PublicKey, now: Date) throws -> Certificate {
        let organisation = root.certificate.subject.flatMap { rdn in
            rdn.filter {
                $0.type == .RDNAttributeType.organizationName || $0.type == .RDNAttributeType.organizationalUnitName
            }
        }
        let subject = DistinguishedName(
            organisation.map { RelativeDistinguishedName($0) }
                + [RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: studentID.rawValue))]
        )
        let notBefore = now.addingTimeInterval(-configuration.clockSkewAllowance)
        return try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: now.addingTimeInterval(Double(configuration.validityDays) * 86_400),
            issuer: root.certificate.subject,
            subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
                // The SID again, for X.509 libraries whose client verifiers require a SAN (Python's `cryptography`).
                // A directory name rather than a URI: the SID has no URL, and linters hold URIs to URL syntax.
                SubjectAlternativeNames([.directoryName(subject)])
                SubjectKeyIdentifier(keyIdentifier: RootAuthority.keyIdentifier(of: publicKey)[...])
                AuthorityKeyIdentifier(keyIdentifier: root.keyIdentifier[...])
                if let ocspURL = configuration.ocspURL {
                    AuthorityInformationAccess([
                        .init(method: .ocspServer, location: .uniformResourceIdentifier(ocspURL))
                    ])
                }
            },
            issuerPrivateKey: root.privateKey
        )
    }
}
