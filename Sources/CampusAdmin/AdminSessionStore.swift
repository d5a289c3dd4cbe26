import Crypto
import Foundation
import Synchronization

/// A logged-in session as a store keeps it: not the session ID from the cookie but a key derived from it and the
/// login token (``AdminSessions`` derives it), so whoever reads the database learns no cookie that logs in, and
/// every session made with a token ends when a server starts with another.
public struct AdminSessionRecord: Sendable, Hashable {
    /// HMAC-SHA256 of the session ID under the login token, in hex.
    public var key: String
    /// The token every form of the session carries; worthless without the session's cookie.
    public var csrfToken: String
    public var expires: Date

    public init(key: String, csrfToken: String, expires: Date) {
        self.key = key
        self.csrfToken = csrfToken
        self.expires = expires
    }
}

/// Where a web interface keeps its logged-in sessions: the server's store, so that a login on one instance is valid
/// on every instance that shares the database (behind a load balancer, a browser's next request may reach another)
/// and survives a restart.
public protocol AdminSessionStore: Sendable {
    /// Records a new session, durably; sessions that have expired may be dropped meanwhile.
    func recordAdminSession(_ session: AdminSessionRecord) async throws
    /// The session with this key, if it is recorded and has not expired at `time`.
    func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord?
    /// Ends a session.
    func removeAdminSession(key: String) async throws
    /// Ends every session (`admin-token --rotate`).
    ///
    /// - Returns: How many there were.
    func removeAllAdminSessions() async throws -> Int
}

/// Sessions in this process's memory: a restart logs everyone out, and another instance knows none of them. The
/// default, for a web interface whose server has no store of its own (tests).
public final class InMemoryAdminSessionStore: AdminSessionStore {
    private let sessions = Mutex<[String: AdminSessionRecord]>([:])

    public init() {}

    public func recordAdminSession(_ session: AdminSessionRecord) async throws {
        let now = Date()
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            sessions[session.key] = session
        }
    }

    public func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        sessions.withLock { $0[key] }.flatMap { $0.expires > time ? $0 : nil }
    }

    public func removeAdminSession(key: String) async throws {
        _ = sessions.withLock { $0.removeValue(forKey: key) }
    }

    public func removeAllAdminSessions() async throws -> Int {
        sessions.withLock { sessions in
            defer { sessions = [:] }
            return sessions.count
        }
    }
}

extension AdminSessions {
    /// The key a store keeps for the session `id` made with `token`.
    static func storedKey(of id: String, token: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(id.utf8), using: SymmetricKey(data: Array(token.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}
