/// A database could not be used at start: it does not exist where it should, it cannot be reached or written, or
/// its schema is newer than this version knows.
///
/// Programs print it and exit with status 2; ``detail`` goes to the log only.
public struct StorageOpenError: Error, Sendable, CustomStringConvertible {
    /// Where the database is: a file's path, or a PostgreSQL URL without its password.
    public var location: String
    /// What went wrong, in plain words.
    public var reason: String
    /// The engine's own message, for the log.
    public var detail: String

    public init(location: String, reason: String, detail: String = "") {
        self.location = location
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "cannot use the database \(location): \(reason)" }
}

/// The database cannot be reached now: the PostgreSQL server is down or restarting, the network is gone, or a
/// connection broke during a transaction. Nothing in the process is lost; servers answer `server-busy` (8) and their
/// `/readyz` fails until the database answers again.
public struct StorageUnavailable: Error, Sendable, CustomStringConvertible {
    /// Where the database is, without a password.
    public var location: String
    /// What happened, for the log.
    public var cause: String

    public init(location: String, cause: String) {
        self.location = location
        self.cause = cause
    }

    public var description: String { "the database \(location) cannot be reached: \(cause)" }
}

extension CampusError {
    /// What a peer hears while the database cannot be reached: `server-busy`, with the cause kept for the log.
    public init(unavailable: StorageUnavailable) {
        self.init(
            .serverBusy, "the server cannot reach its database just now; try again in a moment",
            detail: unavailable.description)
    }

    /// What a peer hears when a store operation failed: `server-busy` while the database cannot be reached (try
    /// again soon), otherwise `code` with `reason`. The cause is kept for the log either way.
    public init(_ code: Code, _ reason: String, storing error: any Error) {
        if let unavailable = error as? StorageUnavailable {
            self.init(unavailable: unavailable)
        } else {
            self.init(code, reason, cause: error)
        }
    }
}

/// A store's schema migrations: identifiers of every change the schema has had, applied in order, each once.
///
/// Both engines refuse a database that a newer CampusPKI migrated (it has migrations this version does not know):
/// this version would not know what its tables mean.
public enum SchemaVersion {
    /// The reason a database migrated by a newer version is refused.
    public static func newerReason(unknown: [String], program: String) -> String {
        "its schema is newer than this version of \(program) knows (it has the migrations "
            + unknown.joined(separator: ", ")
            + "); it was opened by a newer CampusPKI, so use that version or a newer one"
    }
}
