import ArgumentParser
import CampusPKI
import Foundation

/// `--database` and `--database-password-file`, as `cuhk` and `blackboard` and their data commands take them.
///
/// Without a database the records stay in SQLite in `--dir`, as always. The URL also comes from
/// `CAMPUSPKI_DATABASE`, and a password the URL lacks from `--database-password-file` or `PGPASSWORD`. The password
/// is never printed or logged; messages show the URL without it.
public struct DatabaseOptions: ParsableArguments {
    /// The environment variable read when `--database` is not given.
    public static let environmentVariable = "CAMPUSPKI_DATABASE"
    /// The environment variable a password is read from, as libpq does.
    public static let passwordVariable = "PGPASSWORD"

    @Option(
        help: ArgumentHelp(
            "A PostgreSQL database that several instances share: \(DatabaseURL.form)[?sslmode=MODE].",
            discussion:
                "Also from \(Self.environmentVariable). Without it the records are kept in SQLite in --dir. Keys and "
                + "certificates stay files in --dir either way. Prefer --database-password-file or PGPASSWORD to a "
                + "password in the URL, which other users may see in the process list."))
    public var database: String?

    @Option(help: "A file (mode 0600) whose first line is the database's password; else PGPASSWORD.")
    public var databasePasswordFile: String?

    public init() {}

    public func validate() throws {
        do {
            _ = try text(environment: ProcessInfo.processInfo.environment).map(DatabaseURL.init(parsing:))
        } catch let error as DatabaseURL.ParseError {
            throw ValidationError(error.reason)
        }
    }

    /// `--database`, else the environment's.
    func text(environment: [String: String]) -> String? {
        database ?? environment[Self.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The database to use, with its password; `nil` for SQLite in the directory.
    ///
    /// - Throws: ``DatabaseURL/ParseError``, or ``FileError`` when the password file cannot be read or others may
    ///   read it.
    public func url(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseURL? {
        guard let text = text(environment: environment) else { return nil }
        let url = try DatabaseURL(parsing: text)
        if let databasePasswordFile {
            // Like libpq's .pgpass: a password file others may read is refused.
            try SecureFile.checkPrivate(databasePasswordFile)
            guard let contents = try SecureFile.readText(at: databasePasswordFile) else {
                throw FileError.system("cannot read \(databasePasswordFile)", ENOENT)
            }
            let password = contents.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            return url.withPassword(password?.trimmingCharacters(in: CharacterSet(charactersIn: "\r")))
        }
        return url.withPassword(environment[Self.passwordVariable])
    }
}
