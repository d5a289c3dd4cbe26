import CampusPKI
import Foundation
import Synchronization

/// One browser's login: a session ID in an HttpOnly, SameSite=Strict cookie, and the CSRF token every form of that
/// session must carry.
public struct AdminSession: Sendable, Hashable {
    public var id: String
    public var csrfToken: String
    public var expires: Date

    public init(id: String, csrfToken: String, expires: Date) {
        self.id = id
        self.csrfToken = csrfToken
        self.expires = expires
    }
}

/// The logged-in sessions of one web interface, kept in an ``AdminSessionStore`` (the server's database, so that a
/// login holds on every instance sharing it and survives a restart; memory when there is none), and the limit on
/// failed logins.
///
/// The token is checked first, in constant time, and the right token always logs in: behind a proxy every browser
/// comes from one address, and a guesser there must not lock the staff out. Wrong tokens are counted per client
/// address, in this process's memory (so per instance: each of N instances lets an address make its own
/// ``failuresAllowed``); an address over its budget gets `rateLimited` for its wrong tokens, which only slows guessing
/// a 256-bit token that cannot be guessed anyway.
public final class AdminSessions: Sendable {
    /// How long a session lasts.
    public static let lifetime: TimeInterval = 8 * 3600
    /// Failed logins from one address within ``failureWindow``; more wrong tokens get `rateLimited` until the oldest
    /// of them is older than the window.
    public static let failuresAllowed = 5
    public static let failureWindow: TimeInterval = 60
    /// The most client addresses whose failures are remembered; when full, the address whose last failure is the
    /// oldest is forgotten first, so the table stays bounded whatever the number of addresses.
    public static let maximumTrackedClients = 4096

    private struct State {
        /// Each address's recent failures, oldest first, at most ``failuresAllowed``.
        var failures: [String: [Date]] = [:]
    }

    private let token: String
    private let store: any AdminSessionStore
    private let state = Mutex(State())

    public init(token: String, store: any AdminSessionStore = InMemoryAdminSessionStore()) {
        self.token = token
        self.store = store
    }

    /// What a login attempt gave.
    public enum LoginResult: Sendable, Equatable {
        case session(AdminSession)
        case wrongToken
        /// A wrong token from an address with too many failures lately; try again after this many seconds.
        case rateLimited(seconds: Int)
    }

    /// How many client addresses have failures remembered now.
    public var trackedClients: Int { state.withLock { $0.failures.count } }

    /// Exchanges the token for a session; a wrong token counts towards `client`'s limit.
    ///
    /// - Throws: The store's error when a right token's session cannot be recorded.
    public func login(with given: String, from client: String = "unknown", now: Date = Date()) async throws
        -> LoginResult
    {
        // First, and whatever the failures: the right token is never refused.
        if AdminToken.matches(given, token) {
            let session = AdminSession(
                id: AdminToken.generate(), csrfToken: AdminToken.generate(), expires: now + Self.lifetime)
            try await store.recordAdminSession(
                AdminSessionRecord(
                    key: Self.storedKey(of: session.id, token: token), csrfToken: session.csrfToken,
                    expires: session.expires))
            return .session(session)
        }
        return state.withLock { state in
            let recent = (state.failures[client] ?? []).filter { now.timeIntervalSince($0) <= Self.failureWindow }
            if recent.count >= Self.failuresAllowed, let oldest = recent.first {
                state.failures[client] = recent
                return .rateLimited(
                    seconds: max(1, Int((Self.failureWindow - now.timeIntervalSince(oldest)).rounded(.up))))
            }
            if state.failures[client] == nil, state.failures.count >= Self.maximumTrackedClients {
                Self.forgetStale(&state.failures, now: now)
            }
            state.failures[client] = recent + [now]
            return .wrongToken
        }
    }

    /// Drops the addresses without a failure in the window; if none, the one whose last failure is the oldest.
    private static func forgetStale(_ failures: inout [String: [Date]], now: Date) {
        failures = failures.filter { _, times in times.last.map { now.timeIntervalSince($0) <= failureWindow } ?? false
        }
        if failures.count >= maximumTrackedClients,
            let stalest = failures.min(by: { ($0.value.last ?? now) < ($1.value.last ?? now) })?.key
        {
            failures[stalest] = nil
        }
    }

    /// The live session with this ID.
    ///
    /// - Throws: The store's error.
    public func session(_ id: String, now: Date = Date()) async throws -> AdminSession? {
        try await store.adminSession(key: Self.storedKey(of: id, token: token), at: now).map { record in
            AdminSession(id: id, csrfToken: record.csrfToken, expires: record.expires)
        }
    }

    /// Ends a session.
    ///
    /// - Throws: The store's error.
    public func logout(_ id: String) async throws {
        try await store.removeAdminSession(key: Self.storedKey(of: id, token: token))
    }
}
