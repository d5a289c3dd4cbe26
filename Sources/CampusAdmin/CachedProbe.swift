/// A check that runs at most once per ``interval``, whoever asks and however often: the answers in between are the
/// last result, and callers who ask while it runs wait for that run instead of starting their own.
///
/// `/readyz` needs no login, and each of its checks writes to a database: unthrottled, anyone could make a server
/// do a durable write per request.
public actor CachedProbe<Value: Sendable> {
    /// Five seconds: how long a readiness result is served before the checks run again.
    public static var defaultInterval: Duration { .seconds(5) }

    /// How long a result is served.
    public let interval: Duration
    private let probe: @Sendable () async -> Value
    private let now: @Sendable () -> ContinuousClock.Instant
    private var last: (value: Value, at: ContinuousClock.Instant)?
    private var running: Task<Value, Never>?

    /// - Parameters:
    ///   - interval: How long a result is served.
    ///   - now: The clock (tests move it by hand).
    ///   - probe: The check.
    public init(
        interval: Duration = CachedProbe.defaultInterval,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        probe: @escaping @Sendable () async -> Value
    ) {
        self.interval = interval
        self.now = now
        self.probe = probe
    }

    /// The last result if it is younger than ``interval``; otherwise the result of a new run.
    public func value() async -> Value {
        if let last, now() - last.at < interval { return last.value }
        if let running { return await running.value }
        let task = Task { await probe() }
        running = task
        let value = await task.value
        last = (value, now())
        running = nil
        return value
    }
}
