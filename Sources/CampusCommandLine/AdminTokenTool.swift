import ArgumentParser
import CampusAdmin
import CampusPKI

/// `cuhk admin-token` and `blackboard admin-token`: print the web interface's login token (making it if missing),
/// or replace it.
public enum AdminTokenTool {
    /// - Parameters:
    ///   - program: `cuhk` or `blackboard`, for messages.
    ///   - server: `CUHK` or `Blackboard`.
    ///   - directory: The server's directory, where its token file (`cuhk-admin-token`, `blackboard-admin-token`) is.
    ///   - rotate: Replace the token.
    public static func run(program: String, server: String, directory: String, rotate: Bool) throws {
        let path = SecureFile.join(directory, AdminToken.fileName(for: program))
        do {
            if rotate {
                Terminal.line(try AdminToken.rotate(at: path))
                Terminal.error(
                    "\(program) admin-token: \(path) holds a new token. A running \(server) still accepts the old one, "
                        + "and the sessions made with it, until it restarts; restart it to end them.")
            } else {
                Terminal.line(try AdminToken.loadOrCreate(at: path).token)
            }
        } catch {
            Terminal.error("\(program) admin-token: \(error)")
            throw ExitCode(1)
        }
    }
}
