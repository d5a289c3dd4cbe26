import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// A server that ``ServiceRunner`` can run: it tells where it listens and can end its connections at once.
public protocol FramedService: Service {
    /// The bound address, once listening.
    func listeningAddress() async throws -> SocketAddress
    /// Ends every open connection now with `shutting-down` (a second SIGINT or SIGTERM).
    func endConnectionsNow()
}

/// Runs a server until SIGINT or SIGTERM, printing `listening on HOST:PORT` once it is bound.
///
/// The first signal starts a graceful shutdown: no new connections, and the open ones have the server's grace
/// period to finish. A second signal ends them at once.
public enum ServiceRunner {
    /// - Parameters:
    ///   - service: The server.
    ///   - logger: For the service group.
    ///   - ready: Runs once the server is bound, after the `listening on` line.
    public static func run(
        _ service: some FramedService,
        logger: Logger,
        ready: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) async throws {
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                let address = try await service.listeningAddress()
                Terminal.line("listening on \(address.hostAndPort)")
                await ready(address)
            }
            tasks.addTask {
                var received = 0
                for await signal in signals {
                    received += 1
                    if received == 1 {
                        logger.notice("signal received; shutting down gracefully", metadata: ["signal": "\(signal)"])
                        await group.triggerGracefulShutdown()
                    } else {
                        logger.notice("second signal; ending every session now", metadata: ["signal": "\(signal)"])
                        service.endConnectionsNow()
                    }
                }
            }
            // The server's end (or failure) ends the run; the signal watcher would otherwise wait forever.
            defer { tasks.cancelAll() }
            try await group.run()
        }
    }

    /// Sets up swift-log to write to standard error at `level`, with every control character escaped.
    public static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = EscapingLogHandler(StreamLogHandler.standardError(label: label))
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
