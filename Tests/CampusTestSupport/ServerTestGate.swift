import Synchronization

/// At most ``width`` tests run in-process servers at once; the others wait here, suspended, for a place.
///
/// Swift Testing starts every test of the process at once, and the in-process servers of all of them share the
/// process's few threads: on a 2-core machine with a hundred servers starting together, a request a test's
/// Blackboard makes to its own CUHK (OCSP, a timestamp) can wait in the queue behind every other test's work for
/// longer than the timeout that request has in production. Tests of servers therefore take turns, a few at a time;
/// tests without servers still run beside them. A test that holds a place and starts more servers (nested) does not
/// wait again.
public enum ServerTestGate {
    /// How many tests may run servers at once.
    public static let width = 6

    @TaskLocal private static var holding = false

    private static let state = Mutex(State())

    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    /// Runs `body` once this test has a place, and gives the place up when `body` ends.
    public static func run<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        if holding { return try await body() }
        await enter()
        defer { leave() }
        return try await $holding.withValue(true) { try await body() }
    }

    private static func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state in
                if state.running < width {
                    state.running += 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    /// Hands the place to the first waiting test, or frees it.
    private static func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
