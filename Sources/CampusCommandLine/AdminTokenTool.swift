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
    ///   - endSessions: With `rotate`, ends every session recorded in the server's store (its database, shared by
    ///     every instance), returning how many there were; `nil` when there is no store yet.
    public static func run(
        program: String, server: String, directory: String, rotate: Bool,
        endSessions: (() async throws -> Int)? = nil
    ) async throws {
        let path = SecureFile.join(directory, AdminToken.fileName(for: program))
        do {
            if rotate {
                Terminal.line(try AdminToken.rotate(at: path))
                let ended = try await endSessions?()
                Terminal.error(
                    "\(program) admin-token: \(path) holds a new token. "
                        + (ended.map {
                            "The \(Count.of($0, "session")) logged in so far \($0 == 1 ? "is" : "are") ended. "
                        }
                            ?? "")
                        + "A running \(server) still accepts the old token until it restarts; restart it (every "
                        + "instance, each with a copy of the new file) to refuse it.")
            } else {
                Terminal.line(try AdminToken.loadOrCreate(at: path).token)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            Terminal.error("\(program) admin-token: \(error)")
            throw ExitCode(1)
        }
    }
}
