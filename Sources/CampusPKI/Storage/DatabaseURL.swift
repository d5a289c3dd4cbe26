import Foundation

/// A PostgreSQL database, as `--database postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]` names it.
///
/// The password is kept apart from everything that prints: ``description`` and ``redacted`` never contain it, so a
/// URL can be logged and shown in messages as it is.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// How the connection is encrypted: as libpq's `sslmode` (`disable`, `prefer`, `require`).
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Never TLS.
        case disable
        /// TLS when the server offers it (the default, as libpq's).
        case prefer
        /// TLS or no connection. The server's certificate is checked against the system's trusted roots.
        case require
    }

    /// Why a URL cannot be used; never contains the password.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// PostgreSQL's port unless the URL gives another.
    public static let defaultPort = 5432
    /// What the URL must look like, for messages.
    public static let form = "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"

    public var user: String
    /// Never printed or logged.
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode

    public init(
        user: String, password: String? = nil, host: String, port: Int = Self.defaultPort, database: String,
        tls: TLSMode = .prefer
    ) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.tls = tls
    }

    /// Parses a URL.
    ///
    /// - Throws: ``ParseError`` with a reason that never repeats the password.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
            ["postgres", "postgresql"].contains(scheme)
        else {
            throw ParseError(reason: "the database URL must have the form \(Self.form)")
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            throw ParseError(reason: "the database URL names no user (\(Self.form))")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ParseError(reason: "the database URL names no host (\(Self.form))")
        }
        let database = String(components.path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else {
            throw ParseError(reason: "the database URL names no database (\(Self.form))")
        }
        let port = components.port ?? Self.defaultPort
        guard (1...65_535).contains(port) else {
            throw ParseError(reason: "the database URL's port must be 1 to 65535")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw ParseError(
                        reason: "the database URL's sslmode must be "
                            + TLSMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                tls = mode
            default:
                throw ParseError(reason: "the database URL's parameter \(item.name) is not known (only sslmode is)")
            }
        }
        self.init(
            user: user, password: components.password?.removingPercentEncoding, host: host, port: port,
            database: database, tls: tls)
    }

    /// The URL without its password: what logs, messages and `--help` may show.
    public var redacted: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        let mode = tls == .prefer ? "" : "?sslmode=\(tls.rawValue)"
        return "postgres://\(user)@\(host):\(port)/\(database)\(mode)"
    }

    public var description: String { redacted }
    public var debugDescription: String { redacted }
    /// Without the password, so that `dump` and debuggers do not show it either.
    public var customMirror: Mirror { Mirror(self, children: ["url": redacted]) }

    /// The same URL with `password` (from a file or `PGPASSWORD`) when the URL has none.
    public func withPassword(_ password: String?) -> DatabaseURL {
        guard self.password == nil, let password else { return self }
        var url = self
        url.password = password
        return url
    }
}
