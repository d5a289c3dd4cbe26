import Logging
import NIOCore
import ServiceLifecycle

/// Runs a server until SIGINT or SIGTERM, printing `listening on HOST:PORT` once it is bound.
public enum ServiceRunner {
    /// - Parameters:
    ///   - service: The server.
    ///   - listeningAddress: Resolves once the server is bound.
    ///   - logger: For the service group.
    public static func run(
        _ service: some Service,
        listeningAddress: @escaping @Sendable () async throws -> SocketAddress,
        logger: Logger
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [service],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                let address = try await listeningAddress()
                Terminal.line("listening on \(address.hostAndPort)")
            }
            try await tasks.waitForAll()
        }
    }

    /// Sets up swift-log to write to standard error at `level`.
    public static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension SocketAddress {
    /// `HOST:PORT`, with brackets around an IPv6 host.
    public var hostAndPort: String {
        let host = ipAddress ?? "?"
        let port = port ?? 0
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
