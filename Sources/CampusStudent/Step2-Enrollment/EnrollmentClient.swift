import CampusPKI
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Seed steps 1–2 on the Student's side: key pair, CSR, cert 2 from CUHK over the enrollment channel, saved to disk.
///
/// The protocol itself is ``StudentEnrollment`` in CampusPKI; this type decides what to ask for (reuse, enroll,
/// renew), keeps the files crash-safe with ``CredentialFiles``, pins a root it did not have, and moves the
/// machine's frames over a connection.
public struct EnrollmentClient: Sendable {
    public struct Configuration: Sendable {
        /// Where `<SID>.key` and `<SID>.cer` live.
        public var directory: String
        /// CUHK's address.
        public var certificateAuthority: ServerAddress
        /// Make a new key and certificate even if valid ones are saved.
        public var renew: Bool
        /// The root to trust; when `nil`, `cuhk.cer` in ``directory`` if present, else ``rootFingerprint``, else the
        /// root CUHK sends.
        public var rootCertificatePath: String?
        /// The SHA-256 the root must have (`--root-fingerprint`), from a code slip.
        public var rootFingerprint: RootFingerprint?
        /// RSA key size for a new key.
        public var keyBits: Int
        /// Use a saved key even if others may read it.
        public var allowInsecureKeyPermissions: Bool
        /// The one-time enrollment code, read already (`--code-file`); asked for through
        /// ``EnrollmentClient/askForCode`` when `nil` and a new certificate is needed.
        public var code: EnrollmentCode?
        /// How long CUHK may stay silent.
        public var timeout: Duration

        public init(
            directory: String = ".",
            certificateAuthority: ServerAddress = .defaultCertificateAuthority,
            renew: Bool = false,
            rootCertificatePath: String? = nil,
            rootFingerprint: RootFingerprint? = nil,
            keyBits: Int = 2048,
            allowInsecureKeyPermissions: Bool = false,
            code: EnrollmentCode? = nil,
            timeout: Duration = .seconds(UploadClient.defaultTimeoutSeconds)
        ) {
            self.code = code
            self.directory = directory
            self.certificateAuthority = certificateAuthority
            self.renew = renew
            self.rootCertificatePath = rootCertificatePath
            self.rootFingerprint = rootFingerprint
            self.keyBits = keyBits
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
            self.timeout = timeout
        }

        /// Where a root CUHK sent is pinned when no root was given: `cuhk.cer` in ``directory``.
        public var pinnedRootPath: String { SecureFile.join(directory, RootFile.name) }
    }

    /// What enrollment did.
    public enum Outcome: Sendable, Equatable {
        /// A valid saved key and certificate were reused.
        case reused
        /// CUHK issued a new certificate.
        case issued
        /// CUHK renewed the saved certificate (a renewal that was cut short, finished now).
        case renewed
    }

    public var configuration: Configuration
    public var reporter: StepReporter
    /// Shows the enrollment's events: step lines, and with `explain` the public values.
    public var observer: EnrollmentObserver
    /// Asks the person for an enrollment code when none was given and a new certificate is needed; `nil` sends the
    /// request without one (CUHK with open enrollment needs none).
    public var askForCode: @Sendable () -> EnrollmentCode?
    /// Called after each step of a key change; the crash tests stop the process there.
    public var checkpoint: @Sendable (CredentialFiles.Step) -> Void
    /// How a channel that broke transiently is tried again (``exchange(_:trust:)`` says when it may be).
    public var retry: RetryPolicy
    /// Told of each retry before its wait.
    public var announceRetry: @Sendable (RetryPolicy.Retry) -> Void

    public init(
        configuration: Configuration, reporter: @escaping StepReporter = { _, _ in }, explain: Bool = false,
        askForCode: @escaping @Sendable () -> EnrollmentCode? = { nil },
        checkpoint: @escaping @Sendable (CredentialFiles.Step) -> Void = { _ in },
        retry: RetryPolicy = .none,
        announceRetry: @escaping @Sendable (RetryPolicy.Retry) -> Void = { _ in }
    ) {
        self.retry = retry
        self.announceRetry = announceRetry
        self.configuration = configuration
        self.reporter = reporter
        self.observer = EnrollmentObserver(side: .student, explain: explain, reporter: reporter)
        self.askForCode = askForCode
        self.checkpoint = checkpoint
    }

    private var server: StudentError.Server { .cuhk(configuration.certificateAuthority) }

    /// Enrolls the student, or reuses what is saved; first finishes a key change that was cut short.
    ///
    /// - Throws: ``StudentError``.
    public func enroll(_ studentID: StudentID) async throws -> (StudentCredentials, Outcome) {
        try Self.prepareDirectory(configuration.directory)
        let files = CredentialFiles(directory: configuration.directory, studentID: studentID)
        return try await files.withLock(waiting: waiting) {
            try recover(files)
            let trust = try rootTrust()
            let pinnedRoot = trust.pinnedRoot
            // The saved key is read once: parsing an RSA private key is not free.
            let savedKey = try StudentCredentials.loadKey(
                for: studentID, in: configuration.directory,
                allowingInsecurePermissions: configuration.allowInsecureKeyPermissions)
            let held = try await savedKey.asyncMap {
                try await StudentCredentials.loadHeld(
                    for: studentID, key: $0, in: configuration.directory, root: pinnedRoot)
            }
            if let staged = try files.stagedKey() {
                // CUHK's answer to a renewal was lost: ask again with the same key; CUHK answers with the
                // certificate it recorded. If it cannot renew, enroll anew with that key.
                if let current = held ?? nil {
                    reporter(.request, "A renewal was cut short; finishing it with the key it made")
                    do {
                        let renewed = try await renew(current, newKey: staged, files: files, trust: trust)
                        return (renewed, .renewed)
                    } catch StudentError.refusedByCUHK(let error) where error.code == .renewalDenied {
                        reporter(.request, "CUHK cannot renew it (\(error.reason)); enrolling anew")
                    }
                }
                return (try await enrollAnew(studentID, key: staged, staged: true, files: files, trust: trust), .issued)
            }
            if !configuration.renew, let current = held ?? nil {
                let now = Date()
                if current.certificate.notValidBefore <= now, now < current.certificate.notValidAfter {
                    reporter(.certificate, "Reusing the saved key and certificate \(studentID).key / \(studentID).cer")
                    return (current, .reused)
                }
                if now >= current.certificate.notValidAfter {
                    reporter(.request, Self.expiryNote(current.certificate, path: files.certificatePath))
                }
            }
            if configuration.renew || savedKey == nil {
                let key = try CertificateRequestBuilder.makeKey(bits: configuration.keyBits)
                if savedKey == nil {
                    // The first key: nothing to replace, so it is written where it stays, before CUHK is asked.
                    try save(key, to: files.keyPath)
                    return (
                        try await enrollAnew(studentID, key: key, staged: false, files: files, trust: trust), .issued
                    )
                }
                try files.stage(key: key)
                checkpoint(.stagedKey)
                return (try await enrollAnew(studentID, key: key, staged: true, files: files, trust: trust), .issued)
            }
            return (
                try await enrollAnew(
                    studentID, key: savedKey!, staged: false, files: files, trust: trust, reused: true),
                .issued
            )
        }
    }

    /// Renews the saved certificate (valid, or expired within ``EnrollmentChannel/renewalGraceDays`` days): a new
    /// key and CSR, authorized by the current certificate's key over the channel instead of an enrollment code. CUHK
    /// revokes the old certificate (superseded).
    ///
    /// - Throws: ``StudentError``; `local` when there is no certificate to renew.
    public func renew(_ studentID: StudentID) async throws -> StudentCredentials {
        try Self.prepareDirectory(configuration.directory)
        let files = CredentialFiles(directory: configuration.directory, studentID: studentID)
        return try await files.withLock(waiting: waiting) {
            try recover(files)
            let trust = try rootTrust()
            guard
                let currentKey = try StudentCredentials.loadKey(
                    for: studentID, in: configuration.directory,
                    allowingInsecurePermissions: configuration.allowInsecureKeyPermissions),
                let current = try await StudentCredentials.loadHeld(
                    for: studentID, key: currentKey, in: configuration.directory, root: trust.pinnedRoot)
            else {
                throw StudentError.local(
                    "there is no saved certificate for \(studentID) in \(configuration.directory) to renew; "
                        + "enroll with a code from the course's staff")
            }
            let graceEnds = current.certificate.notValidAfter.addingTimeInterval(EnrollmentChannel.renewalGrace)
            guard Date() <= graceEnds else {
                throw StudentError.local(
                    "\(files.certificatePath) expired at \(Self.format(current.certificate.notValidAfter)), more than "
                        + "\(EnrollmentChannel.renewalGraceDays) days ago, and can no longer renew; enroll again "
                        + "with a new code from the course's staff")
            }
            let newKey: _RSA.Signing.PrivateKey
            if let staged = try files.stagedKey() {
                reporter(.request, "A renewal was cut short; asking again with the key it made")
                newKey = staged
            } else {
                newKey = try CertificateRequestBuilder.makeKey(bits: configuration.keyBits)
                try files.stage(key: newKey)
                checkpoint(.stagedKey)
            }
            return try await renew(current, newKey: newKey, files: files, trust: trust)
        }
    }

    /// The renewal of `current` for `newKey` (staged already), then the swap.
    private func renew(
        _ current: StudentCredentials, newKey: _RSA.Signing.PrivateKey, files: CredentialFiles, trust: RootTrust
    ) async throws -> StudentCredentials {
        let csrPEM = try CertificateRequestBuilder.makeRequest(for: current.studentID, key: newKey)
        reporter(.request, "New key pair generated; CSR Request Generated for the renewal.")
        let certificatePEM = try await exchange(
            .renewal(csrPEM: csrPEM, certificatePEM: current.certificatePEM, key: current.privateKey), trust: trust)
        checkpoint(.certificateReceived)
        try files.stage(certificatePEM: certificatePEM)
        checkpoint(.stagedCertificate)
        try files.commit(checkpoint: checkpoint)
        return try StudentCredentials(studentID: current.studentID, privateKey: newKey, certificatePEM: certificatePEM)
    }

    /// An enrollment with a code for `key`: staged (to be swapped in), or already `<SID>.key`.
    private func enrollAnew(
        _ studentID: StudentID, key: _RSA.Signing.PrivateKey, staged: Bool, files: CredentialFiles, trust: RootTrust,
        reused: Bool = false
    ) async throws -> StudentCredentials {
        let csrPEM = try CertificateRequestBuilder.makeRequest(for: studentID, key: key)
        reporter(
            .request,
            reused ? "CSR Request Generated with the saved key." : "Key pair generated; CSR Request Generated.")
        let code = configuration.code ?? askForCode()
        let certificatePEM: String
        do {
            certificatePEM = try await exchange(.enrollment(csrPEM: csrPEM, code: code), trust: trust)
        } catch StudentError.refusedByCUHK(let error) where error.code == .enrollmentDenied {
            // Say why a student whose certificate expired was refused, and what fixes it.
            if let pem = try? SecureFile.readText(at: files.certificatePath),
                let saved = try? Certificate(pemEncoded: pem), saved.notValidAfter <= Date()
            {
                throw StudentError.refusedByCUHK(
                    CampusError(error.code, "\(error.reason). \(Self.expiryNote(saved, path: files.certificatePath))"))
            }
            throw StudentError.refusedByCUHK(error)
        }
        if staged {
            checkpoint(.certificateReceived)
            try files.stage(certificatePEM: certificatePEM)
            checkpoint(.stagedCertificate)
            try files.commit(checkpoint: checkpoint)
        } else {
            do {
                try SecureFile.write(
                    certificatePEM, to: files.certificatePath, mode: SecureFile.publicMode, replacing: true)
            } catch {
                throw StudentError.local("cannot save the certificate: \(error)")
            }
        }
        return try StudentCredentials(studentID: studentID, privateKey: key, certificatePEM: certificatePEM)
    }

    /// One enrollment channel, tried again under ``retry`` after a connection lost or refused with `server-busy` or
    /// `shutting-down`, also once the request has left: a retry sends the same key, and CUHK answers a request whose
    /// code it has already used, for the key that code paid for, with the certificate it recorded then (a renewal sent
    /// again likewise), so no code is spent twice and no second certificate is made for one code.
    private func exchange(_ request: StudentEnrollment.Request, trust: RootTrust) async throws -> String {
        try await retry.run(
            { attempt in
                // A root pinned by the first attempt (trust on first use) is the root every retry must meet.
                try await exchangeOnce(request, trust: attempt == 1 ? trust : try rootTrust())
            }, announce: { announceRetry($0) })
    }

    /// The hello, CUHK's offer checked, the sealed request, cert 2.
    ///
    /// - Throws: ``RetryPolicy/Attempt`` when it may be tried again, else ``StudentError``.
    private func exchangeOnce(_ request: StudentEnrollment.Request, trust: RootTrust) async throws -> String {
        let server = server
        do {
            return try await FramedClient.withConnection(
                to: configuration.certificateAuthority, timeout: .nanoseconds(configuration.timeout.nanoseconds)
            ) { frames in
                var machine = StudentEnrollment(request: request, trust: trust)
                var output = machine.start()
                var first = true
                while true {
                    for event in output.events {
                        observer([event])
                        // A root the Student did not have is pinned before anything secret leaves.
                        if case .authorityAuthenticated = event, let authenticated = output.authenticated {
                            try pin(authenticated)
                        }
                    }
                    try await frames.writer.send(contentsOf: output.messages)
                    if let certificatePEM = output.certificatePEM { return certificatePEM }
                    let payload = try await frames.receivePayload()
                    do {
                        output = try await machine.receive(payload)
                    } catch let failure as StudentEnrollment.Failure {
                        throw studentError(failure, answeringFirstMessage: first)
                    }
                    first = false
                }
            }
        } catch {
            let failure = StudentError.fromConnection(error, server: server)
            guard let transient = TransientFailure.of(error) else { throw failure }
            throw RetryPolicy.Attempt(error: failure, failure: transient)
        }
    }

    private func studentError(_ failure: StudentEnrollment.Failure, answeringFirstMessage: Bool) -> StudentError {
        switch failure {
        case .refused(let error):
            return StudentError.refusal(error, by: server, answeringFirstMessage: answeringFirstMessage)
        case .invalidResponse(let reason):
            return .invalidResponse("\(server): \(reason)")
        case .notAuthenticated(let error):
            return .authorityNotAuthenticated(error, advice: advice(for: error))
        }
    }

    /// How to recover from a CUHK that failed a check.
    private func advice(for error: AuthorityAuthenticationError) -> String {
        guard error.check == .root else {
            return "Is \(server.option) \(configuration.certificateAuthority) the address of CUHK?"
        }
        if let path = configuration.rootCertificatePath {
            return "Check that \(server.option) is the address of CUHK. If CUHK's root really changed, get the new "
                + "root's fingerprint from the course's staff (your code slip; CUHK prints it at start as \"Root "
                + "SHA-256 fingerprint\") and use --root-fingerprint instead of --root-cert \(path)."
        }
        if SecureFile.exists(configuration.pinnedRootPath) {
            let path = configuration.pinnedRootPath
            return "Check that \(server.option) is the address of CUHK. If CUHK's root really changed (a new term or "
                + "a new server), move the old root away (mv \(path) \(path).old) and run again with "
                + "--root-fingerprint and the fingerprint on your code slip (CUHK prints it at start as \"Root "
                + "SHA-256 fingerprint\")."
        }
        return
            "Check the fingerprint you gave against your code slip, and that \(server.option) is the address of CUHK."
    }

    /// Pins the root the machine accepted, when the Student did not have it: as `cuhk.cer` in its directory.
    private func pin(_ authenticated: StudentEnrollment.Authenticated) throws {
        let note: String
        switch authenticated.source {
        case .pinned:
            return
        case .fingerprint:
            note = "CUHK's root matches --root-fingerprint \(authenticated.root.sha256Fingerprint)"
        case .firstUse:
            note = "Trusting CUHK's root on first use, SHA-256 fingerprint \(authenticated.root.sha256Fingerprint)"
        }
        let path = configuration.pinnedRootPath
        do {
            try SecureFile.write(
                try authenticated.root.serializeAsPEM().text, to: path, mode: SecureFile.publicMode,
                replacing: false)
        } catch {
            throw StudentError.local("cannot save CUHK's root to \(path): \(error)")
        }
        reporter(.request, "\(note); saved as \(path) and trusted from now on")
    }

    /// Which root CUHK must show: `--root-cert`, else the pinned `cuhk.cer`, else `--root-fingerprint`, else the
    /// root CUHK sends (trust on first use). A root file that contradicts `--root-fingerprint` stops here, before
    /// anything is sent.
    private func rootTrust() throws -> RootTrust {
        let path = configuration.rootCertificatePath ?? configuration.pinnedRootPath
        let root: Certificate?
        do {
            root = try RootFile.load(path, required: configuration.rootCertificatePath != nil)
        } catch let error as RootFile.LoadError {
            throw StudentError.local("\(error) (see --root-cert)")
        }
        if let root {
            if let fingerprint = configuration.rootFingerprint, RootFingerprint(of: root) != fingerprint {
                throw StudentError.local(
                    "\(path) holds the root \(root.sha256Fingerprint), not the root \(fingerprint) given with "
                        + "--root-fingerprint. If the fingerprint is your code slip's, CUHK's root has changed: "
                        + (configuration.rootCertificatePath == nil
                            ? "move the old root away (mv \(path) \(path).old) and run again"
                            : "leave out --root-cert \(path)"))
            }
            return .pinned(root, path: path)
        }
        if let fingerprint = configuration.rootFingerprint { return .fingerprint(fingerprint) }
        return .firstUse
    }

    private func recover(_ files: CredentialFiles) throws {
        if try files.recover(checkpoint: checkpoint) == .finishedSwap {
            reporter(
                .certificate, "A key change that was cut short is finished: \(files.keyPath), \(files.certificatePath)")
        }
    }

    private func waiting() {
        reporter(.request, "Waiting for another run of student in \(configuration.directory) to finish")
    }

    private func save(_ key: _RSA.Signing.PrivateKey, to path: String) throws {
        do {
            try SecureFile.write(
                try Certificate.PrivateKey(key).serializeAsPEM().text, to: path, mode: SecureFile.privateMode,
                replacing: false)
        } catch {
            throw StudentError.local("cannot save the key: \(error)")
        }
    }

    /// What a student whose certificate expired can do.
    static func expiryNote(_ certificate: Certificate, path: String) -> String {
        let graceEnds = certificate.notValidAfter.addingTimeInterval(EnrollmentChannel.renewalGrace)
        return "Your certificate \(path) expired at \(format(certificate.notValidAfter)); "
            + (Date() <= graceEnds
                ? "`student renew` renews it without a code until \(format(graceEnds)), or enroll again with a new code"
                : "it can no longer renew: enroll again with a new code from the course's staff")
    }

    static func format(_ date: Date) -> String { date.formatted(.iso8601) }

    /// Creates the directory if needed and proves it writable, before anything is asked of CUHK: a Student that
    /// enrolled and then could not save its key would leave a certificate nobody holds.
    ///
    /// - Throws: ``StudentError/local(_:)`` naming the directory.
    public static func prepareDirectory(_ directory: String) throws {
        do {
            try SecureFile.createDirectory(directory)
            try SecureFile.checkWritable(directory: directory)
        } catch {
            throw StudentError.local("cannot use the directory \(directory): \(error) (see --dir)")
        }
    }

    /// The root Blackboard's certificate must chain to at upload time: `--root-cert`, or the root pinned at
    /// enrollment. There is no trust on first use here: without it the upload does not start.
    ///
    /// - Throws: ``StudentError/local(_:)`` when there is none.
    public func uploadRoot() throws -> Certificate {
        guard case .pinned(let root, _) = try rootTrust() else {
            throw StudentError.local(
                "no CUHK root to check Blackboard against: \(configuration.pinnedRootPath) is missing "
                    + "(student enroll pins it, from CUHK's first answer; or give --root-cert)")
        }
        return root
    }
}

extension RootTrust {
    /// The root file's certificate, when one is pinned.
    var pinnedRoot: Certificate? {
        if case .pinned(let root, _) = self { return root }
        return nil
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
