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
    /// Counts wrong codes per source address, under ``EnrollmentPolicy/roster(_:)``; `nil` counts none.
    public let throttle: EnrollmentThrottle?
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
        throttle: EnrollmentThrottle? = nil,
        events: @escaping AuthorityEventSink = { _ in }
    ) {
        self.root = root
        self.registry = registry
        self.configuration = configuration
        self.policy = policy ?? .standard(minimumKeyBits: configuration.minimumKeyBits)
        self.enrollment = enrollment
        self.roster = roster
        self.throttle = throttle
        self.events = events
    }

    /// Issues cert 2 for a PEM CSR.
    ///
    /// - Parameters:
    ///   - csrPEM: The request, PEM (`CERTIFICATE REQUEST`).
    ///   - proof: The ``EnrollmentCodeProof`` of the student's one-time code (32 bytes), or empty; a right one is
    ///     required under ``EnrollmentPolicy/roster(_:)``.
    ///   - transcriptDigest: The enrollment channel's TH_hov, which the proof covers.
    ///   - source: Where the request came from, for the throttle of wrong codes.
    ///   - now: The issuing time.
    /// - Returns: The recorded certificate and the parsed certificate. A request whose code paid for a certificate
    ///   for the same key already (an answer that was lost) gets that certificate again.
    /// - Throws: ``CampusError`` with the code of the first check that failed.
    public func issue(
        csrPEM: String, proof: [UInt8] = [], transcriptDigest: [UInt8] = [], from source: SourceAddress? = nil,
        now: Date = Date()
    ) async throws -> (IssuedCertificate, Certificate) {
        try await observingIssuance {
            try await issueUnobserved(
                csrPEM: csrPEM, proof: proof, transcriptDigest: transcriptDigest, source: source, now: now)
        }
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

    private func issueUnobserved(
        csrPEM: String, proof: [UInt8], transcriptDigest: [UInt8], source: SourceAddress?, now: Date
    ) async throws -> (IssuedCertificate, Certificate) {
        // The proof covers the DER the PEM block holds, exactly as sent.
        let (request, csrDER) = try parse(csrPEM: csrPEM)
        // The policy looks only at what the request says, so it runs first: a SHA-1 request is told that its
        // algorithm is weak rather than that its signature cannot be checked.
        if let refusal = policy.evaluate(request) { throw refusal }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CampusError(.invalidCSRSignature, "the CSR's signature does not verify with its own public key")
        }
        guard let studentID = request.subject.studentID else {
            throw CampusError(.invalidSubject, "the CSR does not name a student")  // the policy already checks
        }
        let paidWith: [UInt8]?
        switch try await admit(
            request, csrDER: csrDER, studentID: studentID, proof: proof, transcriptDigest: transcriptDigest,
            source: source, now: now)
        {
        case .open:
            paidWith = nil
        case .code(let hash):
            paidWith = hash
        case .reissue(let issued):
            return (issued, try Certificate(pemEncoded: issued.pem))
        }

        while true {
            let certificate = try makeCertificate(for: studentID, publicKey: request.publicKey, now: now)
            let issued = IssuedCertificate(
                serial: certificate.serialNumber.hex,
                studentID: studentID,
                notValidBefore: certificate.notValidBefore,
                notValidAfter: certificate.notValidAfter,
                pem: try certificate.serializeAsPEM().text,
                issuedAt: now,
                authorization: paidWith == nil ? .openEnrollment : .enrollmentCode,
                isRosterAuthorized: paidWith != nil
            )
            do {
                if let paidWith, let roster {
                    // The code is consumed in the transaction that records the certificate: of two requests with
                    // one code, exactly one is recorded.
                    try await roster.record(issued, consumingCode: paidWith, at: now)
                } else {
                    try await registry.record(issued)
                }
                return (issued, certificate)
            } catch RegistryError.duplicateSerial {
                continue  // 126 random bits collided; draw again.
            } catch RegistryError.codeAlreadyUsed {
                // A request for the same key that raced this one paid with the code first: the same certificate.
                if let roster, let record = try? await roster.code(for: studentID),
                    let issued = try await issuedCertificate(paidFor: record, key: request.publicKey)
                {
                    return (issued, try Certificate(pemEncoded: issued.pem))
                }
                throw Self.codeUsed
            } catch {
                // Nothing is sent unless it is recorded.
                throw CampusError(
                    .issuanceFailed, "the certificate could not be recorded, so it was not issued", storing: error)
            }
        }
    }

    static let codeUsed = CampusError(.codeUsed, "this enrollment code was used already; ask for a new one")

    /// What pays for a certificate.
    enum Admitted {
        /// Open enrollment: nothing.
        case open
        /// The student's code, by its hash, consumed with the certificate.
        case code([UInt8])
        /// The code paid for a certificate for this very key already, whose answer was lost: send it again.
        case reissue(IssuedCertificate)
    }

    /// Under the roster policy: whether the proof is the student's current code's. The proof is checked first, so a
    /// right proof is never refused for anyone's failures; a wrong one counts against its source address only, and
    /// is answered `enrollment-throttled` once that address has used up its attempts. Nothing is written for a wrong
    /// proof unless its address crosses its budget.
    func admit(
        _ request: CertificateSigningRequest, csrDER: [UInt8], studentID: StudentID, proof: [UInt8],
        transcriptDigest: [UInt8], source: SourceAddress?, now: Date
    ) async throws -> Admitted {
        guard case .roster = enrollment else { return .open }
        guard let roster else {
            throw CampusError(.internalError, "the server could not complete the request", detail: "no roster store")
        }
        let record: CodeRecord?
        do {
            record = try await roster.code(for: studentID)
        } catch {
            throw CampusError(
                .issuanceFailed, "the enrollment could not be checked, so it was not issued", storing: error)
        }
        // An unknown student costs the same HMAC as a known one, so timing does not tell them apart.
        let right = EnrollmentCodeProof.isValid(
            proof, codeHash: record?.hash ?? Self.absentCodeHash, transcriptDigest: transcriptDigest, csrDER: csrDER)
        if right, let record {
            if record.usedAt != nil {
                if let issued = try await issuedCertificate(paidFor: record, key: request.publicKey) {
                    return .reissue(issued)
                }
                throw Self.codeUsed
            }
            guard record.expiresAt > now else {
                throw CampusError(.codeExpired, "this enrollment code has expired; ask for a new one")
            }
            return .code(record.hash)
        }
        let detail =
            record == nil
            ? "the SID is not on the roster or has no code" : proof.isEmpty ? "no code was given" : "wrong code"
        if let source, let throttle {
            let until: Date?
            do {
                until = try await throttle.recordFailure(from: source, at: now)
            } catch {
                throw CampusError(
                    .issuanceFailed, "the enrollment could not be checked, so it was not issued", storing: error)
            }
            if let until {
                throw CampusError(
                    .enrollmentThrottled,
                    "too many wrong enrollment codes came from your network address; try again after "
                        + "\(until.formatted(.iso8601)) (a right code is accepted even now)",
                    detail: "SID \(studentID) from \(source): \(detail); the address is throttled")
            }
        }
        // One answer whether the SID is unknown or the code wrong, so the roster cannot be probed; the log keeps
        // which it was.
        let reason =
            proof.isEmpty
            ? "CUHK enrolls only students on its roster, each with a one-time enrollment code from the course's "
                + "staff; give it at the prompt or with --code-file"
            : "this student ID and enrollment code do not match an enrollment; check both, or ask for a new code"
        throw CampusError(
            .enrollmentDenied, reason, detail: "SID \(studentID)\(source.map { " from \($0)" } ?? ""): \(detail)")
    }

    /// The certificate a used code paid for, when it is still good and for `key`.
    func issuedCertificate(paidFor record: CodeRecord, key: Certificate.PublicKey) async throws -> IssuedCertificate? {
        guard let serial = record.certificateSerial,
            case .good(let issued) = try await registry.status(ofSerial: serial),
            (try? Certificate(pemEncoded: issued.pem))?.publicKey == key
        else { return nil }
        return issued
    }

    /// Stands in for the hash of a code that does not exist.
    static let absentCodeHash = [UInt8](repeating: 0, count: 32)

    /// Parses a PEM CSR, telling a too-small RSA key apart from other damage.
    ///
    /// - Returns: The request and the DER its PEM block holds.
    func parse(csrPEM: String) throws -> (request: CertificateSigningRequest, der: [UInt8]) {
        let document: PEMDocument
        do {
            document = try PEMDocument.parse(csrPEM, expecting: CertificateSigningRequest.defaultPEMDiscriminator)
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
            return (try CertificateSigningRequest(derEncoded: document.derBytes), document.derBytes)
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
