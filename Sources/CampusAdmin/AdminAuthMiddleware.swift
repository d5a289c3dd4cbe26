import CampusPKI
import Foundation
import HTTPTypes
import Hummingbird

/// Every page and action behind the login: without a live session a page redirects to the login page and any
/// other request gets 401; a POST whose form lacks the session's CSRF token gets 403.
public struct AdminAuthMiddleware: RouterMiddleware {
    public typealias Context = AdminContext

    /// The session cookie's name.
    public static let cookieName = "campuspki_session"
    /// The largest form accepted.
    public static let maximumFormSize = 64 * 1024

    let sessions: AdminSessions

    public init(sessions: AdminSessions) {
        self.sessions = sessions
    }

    public func handle(
        _ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await authenticated(request, context: context, next: next)
        } catch let error as StorageUnavailable {
            // The page cannot be read or the session checked while the database is away: 503, as /readyz says.
            return Self.unavailable(error)
        }
    }

    /// 503 with a plain sentence; the cause goes to no page.
    static func unavailable(_ error: StorageUnavailable) -> Response {
        Response(
            status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8", .retryAfter: "5"],
            body: .init(
                byteBuffer: ByteBuffer(string: "The database cannot be reached just now; try again in a moment.\n")))
    }

    func authenticated(
        _ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response
    ) async throws -> Response {
        guard let id = request.cookies[Self.cookieName]?.value, let session = try await sessions.session(id) else {
            if request.method == .get || request.method == .head {
                // After the login, the page that was asked for.
                let path = request.uri.path
                let next =
                    path == "/"
                    ? "" : "?next=" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")
                return .redirect(to: "/login" + next, type: .found)
            }
            return Response(status: .unauthorized)
        }
        var context = context
        context.session = session
        if request.method == .post {
            let body = try await request.body.collect(upTo: Self.maximumFormSize)
            context.form = FormFields.parse(String(buffer: body))
            guard let csrf = context.form["csrf"], AdminToken.matches(csrf, session.csrfToken) else {
                return Response(
                    status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: "missing or wrong CSRF token\n")))
            }
        }
        return try await next(request, context)
    }
}

/// `application/x-www-form-urlencoded` fields.
public enum FormFields {
    public static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first else { continue }
            fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
