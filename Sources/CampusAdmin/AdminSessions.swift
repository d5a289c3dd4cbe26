import CampusPKI
import Foundation
import Synchronization

/// One browser's login: a session ID in an HttpOnly, SameSite=Strict cookie, and the CSRF token every form of that
/// session must carry.
public struct AdminSession: Sendable, Hashable {
    public var id: String
    public var csrfToken: String
    public var expires: Date
}

/// The logged-in sessions of one web interface, in memory (a restart logs everyone out), and the rate limit on
/// failed logins, counted per client address: one client guessing does not lock the others out.
public final class AdminSessions: Sendable {
    /// How long a session lasts.
    public static let lifetime: TimeInterval = 8 * 3600
    /// Failed logins allowed within ``failureWindow`` before logins are refused for the rest of it.
    public static let failuresAllowed = 5
    public static let failureWindow: TimeInterval = 60

    private struct State {
        var sessions: [String: AdminSession] = [:]
        var failures: [String: [Date]] = [:]
    }

    private let token: String
    private let state = Mutex(State())

    public init(token: String) {
        self.token = token
    }

    /// What a login attempt gave.
    public enum LoginResult: Sendable, Equatable {
        case session(AdminSession)
        case wrongToken
        /// Too many failures lately; try again after this many seconds.
        case rateLimited(seconds: Int)
    }

    /// Exchanges the token for a session; a wrong token counts towards `client`'s rate limit.
    public func login(with given: String, from client: String = "unknown", now: Date = Date()) -> LoginResult {
        state.withLock { state in
            state.failures = state.failures.compactMapValues { times in
                let recent = times.filter { now.timeIntervalSince($0) <= Self.failureWindow }
                return recent.isEmpty ? nil : recent
            }
            let failures = state.failures[client] ?? []
            if failures.count >= Self.failuresAllowed, let oldest = failures.first {
                return .rateLimited(
                    seconds: max(1, Int((Self.failureWindow - now.timeIntervalSince(oldest)).rounded(.up))))
            }
            guard AdminToken.matches(given, token) else {
                state.failures[client, default: []].append(now)
                return .wrongToken
            }
            state.sessions = state.sessions.filter { $0.value.expires > now }
            let session = AdminSession(
                id: AdminToken.generate(), csrfToken: AdminToken.generate(), expires: now + Self.lifetime)
            state.sessions[session.id] = session
            return .session(session)
        }
    }

    /// The live session with this ID.
    public func session(_ id: String, now: Date = Date()) -> AdminSession? {
        state.withLock { state in
            guard let session = state.sessions[id] else { return nil }
            guard session.expires > now else {
                state.sessions[id] = nil
                return nil
            }
            return session
        }
    }

    /// Ends a session.
    public func logout(_ id: String) {
        _ = state.withLock { $0.sessions.removeValue(forKey: id) }
    }
}
