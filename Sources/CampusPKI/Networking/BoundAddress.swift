import NIOCore
import Synchronization

/// An address that becomes known once a server binds (or the error that kept it from binding), for any number of
/// waiters. Unlike an `EventLoopPromise`, it may be settled more than once (the first result stays) and may be
/// dropped unsettled.
public final class BoundAddress: Sendable {
    private struct State {
        var result: Result<SocketAddress, any Error>?
        var waiters: [CheckedContinuation<SocketAddress, any Error>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Records the result, unless one is recorded already, and wakes the waiters.
    public func settle(_ result: Result<SocketAddress, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<SocketAddress, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// The result once recorded, without waiting.
    public var current: SocketAddress? {
        state.withLock { try? $0.result?.get() }
    }

    /// Waits for the result.
    ///
    /// - Throws: The error that kept the server from binding.
    public func value() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { state -> Result<SocketAddress, any Error>? in
                if state.result == nil { state.waiters.append(continuation) }
                return state.result
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
