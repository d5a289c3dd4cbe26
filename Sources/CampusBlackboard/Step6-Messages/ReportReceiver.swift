import CampusPKI
import Crypto
import Foundation
import Logging
import Synchronization

/// Seed step 6 on Blackboard's side: `content | HMAC` messages until the student ends the report.
///
/// Each message's MAC covers its sequence number, so a replayed, reordered, dropped or cross-session message
/// fails. A verified message is shown, stored durably, and only then acknowledged. The first failure ends the
/// session: the original printed "(Invalid message!)" and went on, which let an attacker probe at leisure.
///
/// Reading and storing overlap: this task reads and verifies messages while a second task commits what has
/// been verified so far in one transaction (group commit) and then acknowledges each of those messages. A
/// student that keeps several messages in flight pays for one durable commit per batch, not per message.
struct ReportReceiver {
    let store: any ReportStore
    let maximumMessageSize: Int
    let reporter: StepReporter

    func run(
        _ session: BlackboardHandshake.Established,
        record: SessionRecord,
        on frames: FrameChannel,
        logger: Logger
    ) async throws -> ReportReceipt {
        let stored = LazySession(record: record, store: store)
        do {
            return try await receive(session, storedAs: stored, on: frames, logger: logger)
        } catch {
            await stored.markFailed(reason: "\(error)")
            throw error
        }
    }

    private func receive(
        _ session: BlackboardHandshake.Established,
        storedAs sessionNumber: LazySession,
        on frames: FrameChannel,
        logger: Logger
    ) async throws -> ReportReceipt {
        // The committing task starts with the first message, so an idle session holds one task, not two.
        let first = try await frames.receive().message
        let queue = VerifiedQueue()
        let writer = frames.writer
        return try await withThrowingTaskGroup(of: ReportReceipt?.self) { group in
            group.addTask {
                do {
                    return try await Self.commitAndAcknowledge(
                        queue, session: session, storedAs: sessionNumber, writer: writer, logger: logger)
                } catch let error as CampusError {
                    // The reading task may be waiting for the student; closing the connection wakes it.
                    await writer.fail(with: error)
                    throw error
                }
            }
            do {
                try await readAndVerify(session, startingWith: first, on: frames, into: queue)
            } catch {
                // What was verified before the failure is still stored and acknowledged; then the error goes out.
                // A failure of the committing task comes first: it is why reading stopped.
                queue.finish()
                while try await group.next() != nil {}
                throw error
            }
            guard let receipt = try await group.next() ?? nil else {
                throw CampusError(.internalError, "the report ended without a receipt")
            }
            return receipt
        }
    }

    /// Reads messages until the end of the report, verifying each before it is queued for storage.
    private func readAndVerify(
        _ session: BlackboardHandshake.Established,
        startingWith first: WireMessage,
        on frames: FrameChannel,
        into queue: VerifiedQueue
    ) async throws {
        let authenticator = session.authenticator
        var expected: UInt64 = 1
        var next: WireMessage? = first
        while true {
            let message: WireMessage
            if let pending = next {
                message = pending
                next = nil
            } else {
                message = try await frames.receive().message
            }
            switch message {
            case .reportMessage(let sequence, let content, let mac):
                guard content.count <= maximumMessageSize else {
                    throw CampusError(
                        .messageTooLarge,
                        "message \(sequence) has \(content.count) bytes; the maximum is \(maximumMessageSize)"
                    )
                }
                guard authenticator.isValidMessageMAC(mac, sequence: sequence, content: content) else {
                    throw CampusError(
                        .messageAuthenticationFailed,
                        "the HMAC of message \(sequence) does not verify; the message was altered or not sent by "
                            + "this session's student"
                    )
                }
                if let error = Self.sequenceError(sequence, expected: expected, what: "message \(sequence)") {
                    throw error
                }
                reporter(
                    .messages,
                    "receive from \(session.studentID) #\(sequence): \(MessageDisplay.text(content)) (Valid message!)"
                )
                queue.push(.message(StoredMessage(sequence: sequence, content: content, mac: mac, receivedAt: Date())))
                expected += 1

            case .endOfReport(let sequence, let mac):
                guard authenticator.isValidEndMAC(mac, sequence: sequence) else {
                    throw CampusError(.messageAuthenticationFailed, "the end-of-report MAC does not verify")
                }
                if let error = Self.sequenceError(sequence, expected: expected, what: "the end of the report") {
                    throw error
                }
                queue.push(.end)
                queue.finish()
                return

            case .keepAlive:
                // The student is still there; receiving the frame has restarted the idle timer.
                continue

            default:
                throw CampusError(
                    .unexpectedMessage, "expected a report message or its end, got \(message.kind.phrase)")
            }
        }
    }

    /// Commits each batch of verified messages in one transaction, then acknowledges them; at the end, records
    /// the report and sends the receipt.
    private static func commitAndAcknowledge(
        _ queue: VerifiedQueue,
        session: BlackboardHandshake.Established,
        storedAs stored: LazySession,
        writer: FrameWriter,
        logger: Logger
    ) async throws -> ReportReceipt? {
        var count: UInt64 = 0
        var totalBytes: UInt64 = 0
        var digest = SHA256()
        while let batch = await queue.next() {
            let messages = batch.compactMap { item -> StoredMessage? in
                if case .message(let message) = item { return message }
                return nil
            }
            for message in messages {
                digest.update(data: message.content)
                totalBytes += UInt64(message.content.count)
                count = message.sequence
            }
            let ends = batch.contains { if case .end = $0 { true } else { false } }
            let summary =
                ends
                ? ReportSummary(
                    sessionID: session.sessionID,
                    studentID: session.studentID,
                    certificateSerial: session.certificateSerial,
                    messageCount: count,
                    totalBytes: totalBytes,
                    digest: Array(digest.finalize()),
                    completedAt: Date()
                ) : nil
            // One durable commit for the batch: the session's row the first time, the messages, the report.
            let reportID = try await storing(messages.isEmpty ? "the report" : "messages up to \(count)") {
                try await stored.commit(messages: messages, report: summary)
            }
            try await writer.send(contentsOf: messages.map { .messageAcknowledged(sequence: $0.sequence) })
            guard let summary, let reportID else { continue }
            let receipt = ReportReceipt(
                reportID: UInt64(reportID),
                messageCount: summary.messageCount,
                totalBytes: summary.totalBytes,
                digest: summary.digest
            )
            try await writer.send(.receipt(receipt))
            logger.info(
                "report complete",
                metadata: ["report": "\(reportID)", "messages": "\(count)", "bytes": "\(totalBytes)"]
            )
            return receipt
        }
        return nil
    }

    /// A number below the expected one has been used already (a replay); one above skips messages.
    static func sequenceError(_ sequence: UInt64, expected: UInt64, what: String) -> CampusError? {
        if sequence < expected {
            return CampusError(
                .replayedMessage, "\(what) carries number \(sequence), already used; expected \(expected)")
        }
        if sequence > expected {
            return CampusError(
                .outOfOrderMessage, "\(what) carries number \(sequence) while \(expected) was expected")
        }
        return nil
    }

    /// Runs a store write; a failure reaches the student as `storage-failed`, and nothing is acknowledged.
    static func storing<T>(_ what: String, _ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch {
            throw CampusError(.storageFailed, "\(what) could not be stored durably; it is not acknowledged")
        }
    }
}

/// The session in the store: its row is written with its first batch, so a session that never sends anything
/// costs no write. Only the committing task commits; the session is marked failed after that task has ended.
final class LazySession: Sendable {
    let record: SessionRecord
    let store: any ReportStore
    private let number = Mutex<Int64?>(nil)

    init(record: SessionRecord, store: any ReportStore) {
        self.record = record
        self.store = store
    }

    /// Commits a batch.
    ///
    /// - Returns: The report's number when `report` completed it.
    func commit(messages: [StoredMessage], report: ReportSummary?) async throws -> Int64? {
        let batch = SessionBatch(
            session: record,
            storedSession: number.withLock { $0 },
            messages: messages,
            report: report
        )
        let stored = try await store.commit(batch)
        number.withLock { $0 = stored.session }
        return stored.report
    }

    /// Records why the session ended early, if it was ever written.
    func markFailed(reason: String) async {
        guard let number = number.withLock({ $0 }) else { return }
        try? await store.failSession(number, reason: reason)
    }
}

/// Verified messages waiting for their commit, handed from the reading task to the committing task.
final class VerifiedQueue: Sendable {
    enum Item: Sendable {
        case message(StoredMessage)
        case end
    }

    private struct State {
        var items: [Item] = []
        var finished = false
        var waiter: CheckedContinuation<[Item]?, Never>?
    }

    private let state = Mutex(State())

    /// Adds an item; wakes the committing task if it waits.
    func push(_ item: Item) {
        state.withLock { state in
            state.items.append(item)
            if let waiter = state.waiter {
                state.waiter = nil
                let items = state.items
                state.items.removeAll(keepingCapacity: true)
                waiter.resume(returning: items)
            }
        }
    }

    /// No more items will come.
    func finish() {
        state.withLock { state in
            state.finished = true
            if let waiter = state.waiter, state.items.isEmpty {
                state.waiter = nil
                waiter.resume(returning: nil)
            }
        }
    }

    /// Everything queued since the last call, waiting if nothing is; `nil` once finished and empty.
    func next() async -> [Item]? {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                if !state.items.isEmpty {
                    let items = state.items
                    state.items.removeAll(keepingCapacity: true)
                    continuation.resume(returning: items)
                } else if state.finished {
                    continuation.resume(returning: nil)
                } else {
                    state.waiter = continuation
                }
            }
        }
    }
}
