import ArgumentParser
import CampusCommandLine
import CampusPKI

/// What `cuhk` and `blackboard` commands share to find their store: `--database` (or `CAMPUSPKI_DATABASE`) names a
/// PostgreSQL database, otherwise SQLite in `--dir`.
public enum StorageCommand {
    /// The store's location.
    ///
    /// - Throws: `ExitCode(2)` after a plain message when the URL cannot be used or its password file cannot be read
    ///   (the password itself is never shown).
    public static func location(directory: String, _ options: DatabaseOptions, program: String) throws
        -> StorageLocation
    {
        do {
            return StorageLocation(directory: directory, database: try options.url())
        } catch {
            Terminal.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }

    /// Creates a server's directory (for its SQLite file, its login token), with a plain message and exit status 2 when it
    /// cannot.
    public static func createDirectory(_ directory: String, program: String) throws {
        do {
            try SecureFile.createDirectory(directory)
        } catch {
            Terminal.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }

    /// Whether the SQLite file `name` exists at `location` (always `true` for PostgreSQL, where the schema is made
    /// when first opened).
    public static func exists(_ name: String, at location: StorageLocation) -> Bool {
        guard case .sqlite(let directory) = location else { return true }
        return SecureFile.exists(SecureFile.join(directory, name))
    }
}
