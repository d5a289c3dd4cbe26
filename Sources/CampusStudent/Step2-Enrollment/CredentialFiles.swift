import CampusPKI
import Crypto
import Foundation
import X509
import _CryptoExtras

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The Student's key and certificate files, changed so that a kill at any moment leaves a working pair, and one
/// run at a time.
///
/// `<SID>.key` and `<SID>.cer` are the pair in use. A new key (a renewal, `--renew`) is written first as
/// `<SID>.key.new`, before CUHK is asked; cert 2 for it arrives as `<SID>.cer.new`; then the pair is swapped: the old
/// key is kept as `<SID>.key.<id>.old`, the new key is renamed over `<SID>.key` and the new certificate over
/// `<SID>.cer`. Every run first finishes a swap a kill interrupted (``recover(checkpoint:)``); a staged key without
/// its certificate means CUHK's answer was lost, and the next run asks again with the same key, which CUHK answers
/// with the certificate it recorded. Runs on one directory wait for each other (`flock(2)` on `.student.lock`).
public struct CredentialFiles: Sendable {
    /// The points of a key change at which a kill leaves something on disk; the crash tests stop there.
    public enum Step: String, Sendable, CaseIterable {
        /// `<SID>.key.new` is written; CUHK has not been asked.
        case stagedKey
        /// CUHK answered with cert 2; nothing of it is written yet.
        case certificateReceived
        /// `<SID>.cer.new` is written.
        case stagedCertificate
        /// The old key has its `.old` name too.
        case keptOldKey
        /// The new key is `<SID>.key`; `<SID>.cer` is still the old certificate.
        case publishedKey
        /// The new certificate is `<SID>.cer`.
        case publishedCertificate
    }

    public let directory: String
    public let studentID: StudentID

    public init(directory: String, studentID: StudentID) {
        self.directory = directory
        self.studentID = studentID
    }

    public var keyPath: String { StudentCredentials.keyPath(for: studentID, in: directory) }
    public var certificatePath: String { StudentCredentials.certificatePath(for: studentID, in: directory) }
    public var stagedKeyPath: String { keyPath + ".new" }
    public var stagedCertificatePath: String { certificatePath + ".new" }
    /// The lock every run of `student` on this directory takes while it reads or changes credentials.
    public var lockPath: String { SecureFile.join(directory, ".student.lock") }

    /// Runs `body` holding the directory's lock; `waiting` is told once when another run holds it.
    public func withLock<T>(waiting: () -> Void = {}, _ body: () async throws -> T) async throws -> T {
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StudentError.local("cannot use \(lockPath): \(FileError.system("open", errno))")
        }
        defer { close(descriptor) }
        var told = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw StudentError.local("cannot lock \(lockPath): \(FileError.system("flock", errno))")
            }
            if !told {
                waiting()
                told = true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        defer { flock(descriptor, LOCK_UN) }
        return try await body()
    }

    /// The key staged by a key change that has not finished, if any.
    public func stagedKey() throws -> _RSA.Signing.PrivateKey? {
        try StudentCredentials.loadKey(at: stagedKeyPath)
    }

    /// Writes a new key as `<SID>.key.new` (0600), before CUHK is asked to certify it.
    public func stage(key: _RSA.Signing.PrivateKey) throws {
        do {
            try SecureFile.write(
                try Certificate.PrivateKey(key).serializeAsPEM().text, to: stagedKeyPath,
                mode: SecureFile.privateMode, replacing: false)
        } catch {
            throw StudentError.local("cannot save the new key: \(error)")
        }
    }

    /// Writes cert 2 for the staged key as `<SID>.cer.new`.
    public func stage(certificatePEM: String) throws {
        do {
            try SecureFile.write(
                certificatePEM, to: stagedCertificatePath, mode: SecureFile.publicMode, replacing: true)
        } catch {
            throw StudentError.local("cannot save the new certificate: \(error)")
        }
    }

    /// Swaps in the staged pair: the old key is kept under an `.old` name, then the new key and the new certificate
    /// replace the old ones, each in one `rename(2)`.
    public func commit(checkpoint: (Step) -> Void = { _ in }) throws {
        do {
            if SecureFile.exists(keyPath), SecureFile.exists(stagedKeyPath) {
                let aside = try asidePath(for: keyPath)
                if !SecureFile.exists(aside) { try SecureFile.link(keyPath, to: aside) }
                checkpoint(.keptOldKey)
            }
            if SecureFile.exists(stagedKeyPath) {
                try SecureFile.replace(keyPath, with: stagedKeyPath)
                checkpoint(.publishedKey)
            }
            try SecureFile.replace(certificatePath, with: stagedCertificatePath)
            checkpoint(.publishedCertificate)
        } catch let error as StudentError {
            throw error
        } catch {
            throw StudentError.local("cannot put the new key and certificate in place: \(error)")
        }
    }

    /// What ``recover(checkpoint:)`` did.
    public enum Recovery: Sendable, Equatable {
        /// A swap that a kill interrupted is finished.
        case finishedSwap
        /// A staged certificate that belongs to no key here was removed.
        case discardedCertificate
    }

    /// Finishes a swap that a kill interrupted: a staged certificate whose key is the staged key or, once that is
    /// published, `<SID>.key`.
    public func recover(checkpoint: (Step) -> Void = { _ in }) throws -> Recovery? {
        guard let pem = try? SecureFile.readText(at: stagedCertificatePath),
            let certificate = try? Certificate(pemEncoded: pem)
        else {
            if SecureFile.exists(stagedCertificatePath) {
                try? SecureFile.remove(stagedCertificatePath)
                return .discardedCertificate
            }
            return nil
        }
        if let staged = try? stagedKey(), certificate.publicKey == Certificate.PublicKey(staged.publicKey) {
            try commit(checkpoint: checkpoint)
            return .finishedSwap
        }
        if !SecureFile.exists(stagedKeyPath), let key = try? StudentCredentials.loadKey(at: keyPath),
            certificate.publicKey == Certificate.PublicKey(key.publicKey)
        {
            try commit(checkpoint: checkpoint)
            return .finishedSwap
        }
        try? SecureFile.remove(stagedCertificatePath)
        return .discardedCertificate
    }

    /// `<SID>.key.<first 8 bytes of the SHA-256 of its public key>.old`: the same key always gets the same name, so
    /// keeping it aside again after a kill finds it there.
    func asidePath(for path: String) throws -> String {
        guard let key = try StudentCredentials.loadKey(at: path) else { return path + ".old" }
        let digest = SHA256.hash(data: Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoBytes)
        return "\(path).\(Array(digest.prefix(8)).hexString).old"
    }
}
