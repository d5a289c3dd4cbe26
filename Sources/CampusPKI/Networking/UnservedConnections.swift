import NIOCore
import Synchronization

/// The connections a listening socket accepted that its accept loop has not taken yet.
///
/// NIO hands each accepted connection to the accept loop through the listening channel's inbound stream. A
/// connection accepted while the listening socket closes (a graceful shutdown) can arrive after that stream has
/// finished; NIO then drops it without finishing its outbound writer, and the writer's deinitializer traps, taking
/// the server down in the middle of its grace period (apple/swift-nio#2813). Each connection is held here from its
/// setup until the accept loop takes it; when the loop has ended, what is left, and whatever is accepted after, is
/// closed: the server accepts no new connection once it is shutting down.
final class UnservedConnections: Sendable {
    private struct State {
        var connections: [ObjectIdentifier: NIOAsyncChannel<ByteBuffer, ByteBuffer>] = [:]
        var ended = false
    }

    private let state = Mutex(State())

    /// Holds `connection` until ``take(_:)``; closes it at once when the accept loop has ended.
    func hold(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        let held = state.withLock { state in
            guard !state.ended else { return false }
            state.connections[ObjectIdentifier(connection.channel)] = connection
            return true
        }
        if !held { Self.close(connection) }
    }

    /// The accept loop serves `connection` from now on.
    func take(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    /// The accept loop has ended: closes what it did not take, and from now on whatever is held.
    func end() {
        let left = state.withLock { state in
            state.ended = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        for connection in left { Self.close(connection) }
    }

    /// Finishes the connection's writer and closes it, which is what NIO requires of a connection nobody serves.
    private static func close(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        Task { try? await connection.executeThenClose { _, _ in } }
    }
}
