import CampusPKI
import Synchronization
import X509

/// The root Blackboard trusts, read from `cuhk.cer` and re-read when the file changes.
///
/// The seed starts CUHK and Blackboard together, so the file may not exist yet when Blackboard starts: until it
/// appears every handshake is refused with `root-unavailable`. Each handshake compares the file's identity
/// (device, inode, size, modification time) with what was loaded, one `stat(2)`, and reloads when it differs.
public final class TrustedRootStore: Sendable {
    private struct Loaded: Sendable {
        var identity: [Int]
        var root: Certificate
    }

    /// The watched file.
    public let path: String
    private let state = Mutex<Loaded?>(nil)

    public init(path: String) {
        self.path = path
    }

    /// The current root.
    ///
    /// - Throws: ``CampusError`` with `root-unavailable` when the file is missing or unreadable.
    public func currentRoot() throws -> Certificate {
        guard let identity = SecureFile.identity(of: path) else {
            state.withLock { $0 = nil }
            throw CampusError(
                .rootUnavailable, "Blackboard has no trusted root yet",
                detail: "\(path) does not exist; cuhk init or cuhk serve writes cuhk.cer in CUHK's directory")
        }
        if let loaded = state.withLock({ $0 }), loaded.identity == identity {
            return loaded.root
        }
        let root: Certificate
        do {
            guard let pem = try SecureFile.readText(at: path) else {
                throw CampusError(.rootUnavailable, "\(path) disappeared while being read")
            }
            root = try Certificate(pemEncoded: pem)
        } catch {
            throw CampusError(.rootUnavailable, "Blackboard cannot read its trusted root \(path)")
        }
        state.withLock { $0 = Loaded(identity: identity, root: root) }
        return root
    }
}
