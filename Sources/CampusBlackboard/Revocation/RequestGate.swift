import NIOCore
import NIOPosix
import Synchronization

/// At most ``permits`` requests to CUHK at once; the others wait here, each until its own deadline.
///
/// AsyncHTTPClient queues a request that finds every connection of its pool busy, and fails it with
/// `getConnectionFromPoolTimeout` once the connect timeout (2 s) has passed, whatever the request's own deadline: in
/// a deadline rush with CUHK slow to answer, handshakes were refused with `revocation-unknown` although the responder
/// answered every request it got. Holding a request here until a connection of the pool is free keeps the pool's
/// queue empty, and the wait counts against the request's own 5 s.
final class RequestGate: Sendable {
    /// Requests that are not let through before their deadline, or whose task was cancelled while waiting.
    struct Busy: Error, CustomStringConvertible {
        var permits: Int
        var description: String {
            "\(permits) requests to CUHK were already under way until the request's deadline"
        }
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    let permits: Int
    private let state: Mutex<State>

    init(permits: Int) {
        precondition(permits > 0)
        self.permits = permits
        self.state = Mutex(State(available: permits))
    }

    /// Requests let through and not yet finished, and requests waiting.
    var counts: (running: Int, waiting: Int) {
        state.withLock { (permits - $0.available, $0.waiters.count) }
    }

    /// Runs `body` once a permit is free, and frees it when `body` ends.
    ///
    /// - Throws: ``Busy`` when no permit was free before `deadline` or the task was cancelled while waiting;
    ///   otherwise what `body` throws.
    func run<T>(before deadline: NIODeadline, _ body: () async throws -> T) async throws -> T {
        guard await acquire(before: deadline) else { throw Busy(permits: permits) }
        defer { release() }
        return try await body()
    }

    /// Waits for a permit: `true` once it is this caller's, `false` when `deadline` passed or the task was
    /// cancelled first.
    func acquire(before deadline: NIODeadline) async -> Bool {
        let (granted, id): (Bool, UInt64) = state.withLock { state in
            if state.available > 0 {
                state.available -= 1
                return (true, 0)
            }
            defer { state.nextID += 1 }
            return (false, state.nextID)
        }
        guard !granted else { return true }
        guard !Task.isCancelled, NIODeadline.now() < deadline else { return false }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // A permit freed since the first look is taken now, rather than waited for.
                let freed = state.withLock { state in
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if freed {
                    continuation.resume(returning: true)
                    return
                }
                MultiThreadedEventLoopGroup.singleton.next().scheduleTask(deadline: deadline) { [self] in
                    giveUp(id)
                }
                // Cancelled before the waiter was registered: the handler below found nothing to end.
                if Task.isCancelled { giveUp(id) }
            }
        } onCancel: {
            giveUp(id)
        }
    }

    /// Frees a permit: the longest waiting caller gets it, else it is available again.
    func release() {
        let next: Waiter? = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.continuation.resume(returning: true)
    }

    /// Ends the wait of `id`, if it still waits, without a permit.
    private func giveUp(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }
}
