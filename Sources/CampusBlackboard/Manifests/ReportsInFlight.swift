import Foundation
import Synchronization

/// The reports between their number's reservation and their commit: a deadline manifest waits for those that may
/// still be counted on time, so that it lists every report CUHK timestamped at or before the deadline.
public final class ReportsInFlight: Sendable {
    private struct Entry: Sendable {
        var assignment: String
        /// CUHK's `genTime`, once the token is in; `nil` until then (or when there is none).
        var generationTime: Date?
    }

    /// One report in flight; ``end()`` when it is committed or refused.
    public final class Ticket: Sendable {
        fileprivate let owner: ReportsInFlight
        fileprivate let id: Int

        fileprivate init(owner: ReportsInFlight, id: Int) {
            self.owner = owner
            self.id = id
        }

        /// CUHK timestamped the report at `time`.
        public func record(generationTime time: Date) {
            owner.entries.withLock { $0.values[id]?.generationTime = time }
        }

        /// The report was committed, or will not be.
        public func end() {
            _ = owner.entries.withLock { $0.values.removeValue(forKey: id) }
        }
    }

    private let entries = Mutex<(next: Int, values: [Int: Entry])>((0, [:]))

    public init() {}

    /// A report for `assignment` is on its way to its commit.
    public func begin(assignment: String) -> Ticket {
        let id = entries.withLock { state -> Int in
            state.next += 1
            state.values[state.next] = Entry(assignment: assignment)
            return state.next
        }
        return Ticket(owner: self, id: id)
    }

    /// How many reports of `assignment` may still be counted on time for `deadline` (all of them for `nil`): those
    /// without a timestamp yet, and those CUHK timestamped at or before it (whole seconds, as receipts count).
    public func pending(assignment: String, onTimeFor deadline: Date?) -> Int {
        entries.withLock { state in
            state.values.values.filter { entry in
                guard entry.assignment == assignment else { return false }
                guard let deadline, let time = entry.generationTime else { return true }
                return time.timeIntervalSince1970.rounded(.down) <= deadline.timeIntervalSince1970
            }.count
        }
    }

    /// Waits until ``pending(assignment:onTimeFor:)`` is 0, looking every 50 ms, for at most `limit`.
    ///
    /// - Returns: Whether it reached 0.
    public func waitUntilSettled(assignment: String, onTimeFor deadline: Date?, limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + limit
        while pending(assignment: assignment, onTimeFor: deadline) > 0 {
            guard clock.now < end else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }
}
