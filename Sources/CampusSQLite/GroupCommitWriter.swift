import GRDB
import Synchronization

/// Writes from many tasks, committed together: everything queued while one commit is on its way to the disk
/// goes into the next transaction, so N concurrent writers pay for about one `fsync`, not N.
///
/// Each write runs in its own savepoint, so one failing write (a duplicate serial, say) fails alone. A write
/// returns only after the transaction holding it has committed durably.
public final class GroupCommitWriter: Sendable {
    private struct Item: Sendable {
        let run: @Sendable (Database) -> Void
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: [Item] = []
        var flushing = false
    }

    private let database: DatabasePool
    private let state = Mutex(State())

    public init(database: DatabasePool) {
        self.database = database
    }

    /// Runs `operation` in the next shared transaction.
    ///
    /// - Returns: What `operation` returned, once the transaction is durable.
    /// - Throws: What `operation` threw, or the transaction's error.
    public func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let item = Item(
                run: { db in
                    do {
                        try db.inSavepoint {
                            outcome.result = .success(try operation(db))
                            return .commit
                        }
                    } catch {
                        outcome.result = .failure(error)
                    }
                },
                continuation: continuation
            )
            let leads = state.withLock { state in
                state.queue.append(item)
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if leads { Task { await self.flushUntilEmpty() } }
        }
        return try outcome.get()
    }

    private func flushUntilEmpty() async {
        while true {
            let batch = state.withLock { state in
                let batch = state.queue
                state.queue.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await database.write { db in
                    for item in batch { item.run(db) }
                }
                for item in batch { item.continuation.resume() }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }
}

/// One write's result, set inside the transaction and read after the commit (the continuation orders the two).
private final class Outcome<T>: @unchecked Sendable {
    var result: Result<T, any Error>?

    func get() throws -> T {
        guard let result else { throw DatabaseError(message: "the write did not run") }
        return try result.get()
    }
}
