import NIOCore

/// Runs a connection's tasks on its channel's event loop.
///
/// A connection's frames arrive on its channel's event loop; a task on Swift's cooperative pool that waits for them
/// is woken on another thread, and what it writes crosses back. With this executor preferred for the connection's
/// task (and so for its child tasks), a task resumed by its channel runs on that channel's loop, and what it writes
/// needs no hop: a quarter fewer context switches (docs/PERFORMANCE.md). A server's accepting task runs on its
/// listening channel's loop in the same way, so an accepted connection wakes no thread of the pool, and a client's
/// conversation (``FramedClient``) runs on its connection's loop too. Only those tasks run here; everything else stays
/// on Swift's pool. They never wait on a thread for something an event loop would have to do (no
/// `EventLoopFuture.wait()`); their longest stretches without a suspension (an RSA signature or decryption, the
/// handshake's short SQLite read, the Student's write of a pinned root) hold the loop as they held a thread of the
/// pool.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    /// One executor per event loop, made when a loop is first asked for: a server's accepting task keeps one of
    /// these rather than making an executor per connection.
    struct PerLoop {
        private var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]

        subscript(eventLoop: any EventLoop) -> EventLoopTaskExecutor {
            mutating get {
                let key = ObjectIdentifier(eventLoop)
                if let executor = executors[key] { return executor }
                let executor = EventLoopTaskExecutor(eventLoop)
                executors[key] = executor
                return executor
            }
        }
    }
}
