import CampusPKI
import Foundation

/// The login token of a server's web interface, as Jupyter has one: random, kept in a file of mode 0600 beside the
/// server's other files so it survives restarts, and printed at start inside a login URL.
///
/// Whoever can read the file (or the server's terminal) can log in; `… admin-token --rotate` replaces it, which
/// also ends every session made with the old one at the server's next start.
public enum AdminToken {
    /// The token file of `program` (`cuhk`, `blackboard`) in its directory: `cuhk-admin-token`,
    /// `blackboard-admin-token`. In the seed's single directory each server keeps its own.
    public static func fileName(for program: String) -> String {
        "\(program)-admin-token"
    }

    /// 32 bytes from the system CSPRNG, as 64 lower-case hex digits.
    public static func generate() -> String {
        SessionKeySchedule.randomBytes(32).hexString
    }

    /// The token in `path`, made and saved (0600) first when there is none.
    ///
    /// - Returns: The token, and whether it was made now.
    public static func loadOrCreate(at path: String) throws -> (token: String, created: Bool) {
        if let text = try SecureFile.readText(at: path) {
            if let mode = SecureFile.mode(of: path), mode & 0o077 != 0 {
                throw TokenFileError(
                    path: path,
                    reason: "others may read it (mode \(String(mode, radix: 8))); whoever reads it can log in. "
                        + "Run chmod 600 \(path), or replace the token with admin-token --rotate")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 32 else {
                throw TokenFileError(path: path, reason: "it holds no token; replace it with admin-token --rotate")
            }
            return (token, false)
        }
        let token = generate()
        try SecureFile.write(token + "\n", to: path, mode: SecureFile.privateMode, replacing: false)
        return (token, true)
    }

    /// Replaces the token in `path` with a new one (atomically, mode 0600).
    public static func rotate(at path: String) throws -> String {
        let token = generate()
        try SecureFile.write(token + "\n", to: path, mode: SecureFile.privateMode, replacing: true)
        return token
    }

    /// Compares two tokens in time that depends only on their lengths.
    public static func matches(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Why a token file cannot be used.
public struct TokenFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "the login token file \(path) cannot be used: \(reason)" }
}
