import GRDB
import Synchronization

/// Writes from many tasks, committed together: everything queued while one commit is on its way to the disk
/// goes into the next transaction, so N concurrent writers pay for about one `fsync`, not N.
///
/// Each write runs in its own savepoint, so one failing write (a duplicate serial, say) fails alone. A write
/// returns only after the transaction holding it has committed durably.
///
/// The batches are committed on the database's writer queue itself: no task is made for them, and a writer's task
/// is woken by the commit that covers it, wherever that task runs (a connection's on its event loop).
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
            if leads { flushNextBatch() }
        }
        return try outcome.get()
    }

    /// Commits what is queued in one transaction on the writer queue; if more was queued meanwhile, queues another such
    /// block for it behind whatever else waits for the writer, and otherwise ends the run.
    private func flushNextBatch() {
        database.asyncWriteWithoutTransaction { db in
            // Never empty: a run starts with a write queued, and goes on only while more are.
            let batch = self.state.withLock { state in
                let batch = state.queue
                state.queue.removeAll(keepingCapacity: true)
                return batch
            }
            do {
                try db.inTransaction {
                    for item in batch { item.run(db) }
                    return .commit
                }
                for item in batch { item.continuation.resume() }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
            let more = self.state.withLock { state in
                if state.queue.isEmpty { state.flushing = false }
                return state.flushing
            }
            if more { self.flushNextBatch() }
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
