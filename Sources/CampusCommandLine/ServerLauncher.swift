import ArgumentParser
import CampusPKI
import Logging
import NIOCore

/// What `cuhk serve` and `blackboard serve` share: the descriptor limit, binding with a clear message when the
/// port is taken, and a clear message and exit status 2 when the server cannot start.
public enum ServerLauncher {
    /// Raises the descriptor limit and works out how many connections to serve.
    ///
    /// - Parameters:
    ///   - requested: `--max-connections`, when given.
    ///   - cap: The program's default cap.
    /// - Returns: The number of connections to serve.
    public static func connectionLimit(requested: Int?, cap: Int, logger: Logger) -> Int {
        let descriptors = ConnectionLimit.raiseDescriptorLimit()
        let allowed = ConnectionLimit.defaultConnections(descriptorLimit: descriptors, cap: cap)
        if let requested {
            if requested > allowed {
                logger.warning(
                    "--max-connections is above what the file descriptor limit allows",
                    metadata: ["requested": "\(requested)", "descriptor-limit": "\(descriptors)"])
            }
            return requested
        }
        logger.notice(
            "serving up to \(allowed) connections at once",
            metadata: [
                "descriptor-limit": "\(descriptors == Int.max ? "unlimited" : String(descriptors))",
                "reserved": "\(ConnectionLimit.reservedDescriptors(descriptorLimit: descriptors))",
            ])
        return allowed
    }

    /// Binds a port, turning a failure into a plain message and exit status 1.
    ///
    /// - Parameters:
    ///   - option: The option that chooses the port, named in the message.
    ///   - hostOption: The option that chooses the address, named in the message.
    public static func bind<T>(
        program: String, host: String, port: Int, option: String = "--port", hostOption: String = "--host",
        _ listen: () async throws -> T
    ) async throws -> T {
        do {
            return try await listen()
        } catch {
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            Terminal.error(
                "\(program): cannot listen on \(address) (\(NetworkFailure.describe(error))); "
                    + "is another \(program) running? choose another port with \(option), or another address with "
                    + hostOption
            )
            throw ExitCode(1)
        }
    }

    /// Runs `make`, turning a failure into a plain message and exit status 2.
    public static func start<T>(program: String, logger: Logger, _ make: () async throws -> T) async throws -> T {
        do {
            return try await make()
        } catch let error as ExitCode {
            throw error
        } catch {
            log(error, logger: logger)
            Terminal.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }

    /// Runs `work` with a store, turning a database that cannot be opened or reached into a plain message (where it
    /// is, never with a password, and why) and exit status 2; other errors pass through.
    public static func withStorage<T>(program: String, logger: Logger, _ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as StorageOpenError {
            log(error, logger: logger)
            Terminal.error("\(program): \(error)")
            throw ExitCode(2)
        } catch let error as StorageUnavailable {
            log(error, logger: logger)
            Terminal.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }

    /// The database's own message goes to the log only.
    static func log(_ error: any Error, logger: Logger) {
        if let error = error as? StorageOpenError {
            logger.error("database error", metadata: ["database": "\(error.location)", "cause": "\(error.detail)"])
        } else if let error = error as? StorageUnavailable {
            logger.error(
                "database unavailable", metadata: ["database": "\(error.location)", "cause": "\(error.cause)"])
        }
    }
}
