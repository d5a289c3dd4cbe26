import CampusPKI

/// How the Student tries again after a session with CUHK or Blackboard broke in a way another attempt through the
/// same address may not meet (``TransientFailure``): a connection lost, a server that was busy or shutting down.
///
/// Behind a TCP load balancer each new connection may reach another instance, so a lost instance costs the student a
/// short wait rather than the submission. The waits grow exponentially up to a cap, and each is shortened by a random
/// part (from the system's random number generator) so that students cut off together do not all come back at once.
public struct RetryPolicy: Sendable {
    /// How many times a failed attempt is tried again; 0 tries once only.
    public var retries: Int
    /// The wait before the first retry, before jitter.
    public var initialDelay: Duration
    /// The longest wait before a retry, before jitter.
    public var maximumDelay: Duration
    /// Waits; `Task.sleep` unless a test injects another.
    public var sleep: @Sendable (Duration) async throws -> Void
    /// A number in 0..<1 that sets the jitter: the wait is between half of the exponential delay and all of it.
    public var random: @Sendable () -> Double

    /// Retries unless `--retries` says otherwise.
    public static let defaultRetries = 3
    /// The largest `--retries`.
    public static let maximumRetries = 10
    /// No retry: one attempt.
    public static let none = RetryPolicy(retries: 0)

    public init(
        retries: Int = RetryPolicy.defaultRetries,
        initialDelay: Duration = .seconds(1),
        maximumDelay: Duration = .seconds(8),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.retries = max(retries, 0)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.sleep = sleep
        self.random = random
    }

    /// Attempts in all: the first and each retry.
    public var attempts: Int { retries + 1 }

    /// The exponential delay before retry number `retry` (1 for the first), capped, before jitter.
    public func baseDelay(beforeRetry retry: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(retry, 1) {
            delay *= 2
            if delay >= maximumDelay { return maximumDelay }
        }
        return min(delay, maximumDelay)
    }

    /// The wait before retry number `retry`: between half of ``baseDelay(beforeRetry:)`` and all of it.
    public func delay(beforeRetry retry: Int) -> Duration {
        let base = baseDelay(beforeRetry: retry)
        let fraction = min(max(random(), 0), 1)
        return base / 2 + (base / 2) * fraction
    }

    /// A retry about to happen, for the line the Student prints.
    public struct Retry: Sendable, Equatable {
        /// The attempt about to start (2 for the first retry).
        public var attempt: Int
        /// Attempts in all.
        public var attempts: Int
        /// The wait before it.
        public var delay: Duration
        /// Why the previous attempt failed.
        public var failure: TransientFailure
    }

    /// Runs `operation` until it succeeds, fails in a way that is not transient, or has been tried ``attempts``
    /// times; before each retry it calls `announce` and waits.
    ///
    /// - Parameters:
    ///   - operation: One attempt, given its number (1 for the first). It throws ``RetryPolicy/Attempt`` when it
    ///     may be tried again.
    ///   - announce: Told of each retry before its wait.
    /// - Returns: What the successful attempt returned.
    /// - Throws: The error of the last attempt (for a transient failure, the error it carries).
    public func run<T>(
        _ operation: (Int) async throws -> T, announce: (Retry) -> Void = { _ in }
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation(attempt)
            } catch let failure as Attempt {
                guard attempt < attempts else { throw failure.error }
                attempt += 1
                let retry = Retry(
                    attempt: attempt, attempts: attempts, delay: delay(beforeRetry: attempt - 1),
                    failure: failure.failure)
                announce(retry)
                try await sleep(retry.delay)
            }
        }
    }

    /// An attempt that failed transiently: `error` is what the caller sees if no retry is left.
    public struct Attempt: Error, Sendable {
        public var error: StudentError
        public var failure: TransientFailure

        public init(error: StudentError, failure: TransientFailure) {
            self.error = error
            self.failure = failure
        }
    }
}

extension RetryPolicy.Retry {
    /// The line the Student prints, such as `connection to Blackboard at localhost:3141 lost (connection reset by the
    /// other side); retrying in 1.4 s (attempt 2 of 4)`.
    public func line(server: StudentError.Server) -> String {
        "\(failure.sentence(server: server)); retrying in \(Self.seconds(delay)) (attempt \(attempt) of \(attempts))"
    }

    /// `1.4 s`: tenths of a second, rounded up.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10 + (attoseconds + 99_999_999_999_999_999) / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
