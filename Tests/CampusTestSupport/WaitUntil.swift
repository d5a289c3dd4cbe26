/// A condition a test waited for that did not come.
public struct WaitedTooLong: Error, CustomStringConvertible {
    public var what: String
    public var limit: Duration

    public var description: String { "waited \(limit) for \(what)" }
}

/// Waits until `condition` holds, looking every `interval`.
///
/// The limit is not a timing assertion: it is far beyond what the slowest machine takes, and is there so that a test
/// whose condition never comes (a session that failed, a count that stopped short) fails with ``WaitedTooLong``
/// instead of holding the whole run until CI gives up.
public func waitUntil(
    _ what: String, limit: Duration = .seconds(300), every interval: Duration = .milliseconds(5),
    isolation: isolated (any Actor)? = #isolation, _ condition: () throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    while try !condition() {
        guard clock.now < end else { throw WaitedTooLong(what: what, limit: limit) }
        try await Task.sleep(for: interval)
    }
}
