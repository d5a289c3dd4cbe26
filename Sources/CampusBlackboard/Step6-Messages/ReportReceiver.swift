import CampusPKI
import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization

/// Seed step 6 on Blackboard's side: sealed `content | tag` messages until the student ends the report.
///
/// ``BlackboardRecordLayer`` opens each message: the tag covers the type and sequence number, so a replayed,
/// reordered, dropped, altered or cross-session message fails. A verified message is shown, stored durably, and
/// only then acknowledged. The first failure ends the session: the original printed "(Invalid message!)" and went
/// on, which let an attacker probe at leisure.
///
/// Reading and storing overlap: this task reads and verifies messages while a second task shows what has been
/// verified so far (the batch's lines in one write), commits it in one transaction (group commit) and then
/// acknowledges each of those messages. At most ``maximumPendingMessages`` verified messages, holding less than
/// ``maximumPendingBytes`` of content before the last, wait for their commit: when the window is full, the reading
/// task waits, stops reading the connection, and TCP holds the student back. A student that sends fast and never
/// reads its acknowledgements therefore costs a bounded amount of memory.
struct ReportReceiver {
    let store: any ReportStore
    let maximumMessageSize: Int
    /// What the student may store; checked as messages arrive, and again in each commit.
    let limits: StorageLimits
    /// The student's bytes stored before this session.
    let storedBefore: Int64
    let credentials: BlackboardHandshake.Credentials
    let observer: SessionObserver
    /// Gets CUHK's timestamp of the report before its receipt is signed.
    let timestamper: ReportTimestamper
    /// Where the report waits between its number and its commit, for the deadline manifests.
    let inFlight: ReportsInFlight

    /// How many verified messages of one session may wait for their commit.
    static let maximumPendingMessages = ReportWindow.size
    /// While the messages waiting for their commit hold this much content, no more is read.
    static let maximumPendingBytes = ReportWindow.pendingBytes

    /// Receives the report whose first message is `first` (its caller waits for that, in a smaller async frame).
    @inline(never)
    func run(
        _ session: BlackboardHandshake.Established,
        startingWith first: ByteBuffer,
        record: SessionRecord,
        on frames: FrameChannel,
        logger: Logger
    ) async throws -> ReportSummary {
        let stored = LazySession(record: record, store: store, limits: limits)
        do {
            return try await receive(session, startingWith: first, storedAs: stored, on: frames, logger: logger)
        } catch {
            await stored.markFailed(reason: "\(error)")
            throw error
        }
    }

    private func receive(
        _ session: BlackboardHandshake.Established,
        startingWith first: ByteBuffer,
        storedAs sessionNumber: LazySession,
        on frames: FrameChannel,
        logger: Logger
    ) async throws -> ReportSummary {
        // The committing task starts with the first message, so an idle session holds one task, not two.
        let queue = VerifiedQueue(capacity: Self.maximumPendingMessages, byteCapacity: Self.maximumPendingBytes)
        let writer = frames.writer
        let sealer = session.records.outgoing
        let signer = ReceiptSigner(credentials: credentials, session: session)
        let observer = observer
        let finisher = ReportFinisher(timestamper: timestamper, inFlight: inFlight, logger: logger)
        return try await withThrowingTaskGroup(of: ReportSummary?.self) { group in
            group.addTask {
                do {
                    return try await Self.commitAndAcknowledge(
                        queue, storedAs: sessionNumber, sealer: sealer, signer: signer, writer: writer,
                        observer: observer, finisher: finisher)
                } catch let error as CampusError {
                    // The reading task may be waiting for the student or for room in the queue; closing the
                    // connection and the queue wakes it.
                    queue.cancel()
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
            guard let report = try await group.next() ?? nil else {
                throw CampusError(.internalError, "the report ended without a receipt")
            }
            return report
        }
    }

    /// Reads messages until the end of the report, verifying each before it is queued for storage.
    private func readAndVerify(
        _ session: BlackboardHandshake.Established,
        startingWith first: ByteBuffer,
        on frames: FrameChannel,
        into queue: VerifiedQueue
    ) async throws {
        var records = session.records
        var next: ByteBuffer? = first
        var reportBytes: Int64 = 0
        // The report's digest is taken here, in order, so that hashing overlaps the commit of earlier messages.
        var digest = SHA256()
        while true {
            let payload: ByteBuffer
            if let pending = next {
                payload = pending
                next = nil
            } else {
                payload = try await frames.receivePayload()
            }
            switch try records.open(WireMessage.decode(payload), maximumMessageSize: maximumMessageSize) {
            case .message(let sequence, let content, let sealed):
                // Refused before it is stored: the messages before it are still stored and acknowledged.
                try limits.checkAdding(
                    Int64(content.count), toReportOf: reportBytes, storedBytes: storedBefore + reportBytes)
                reportBytes += Int64(content.count)
                digest.update(data: content)
                // Its line is shown by the committing task, with the others of its batch, before they are stored.
                let lines = observer.recording([
                    .messageReceived(studentID: session.studentID, sequence: sequence, content: content, sealed: sealed)
                ])
                let message = StoredMessage(
                    sequence: sequence, content: content, mac: Array(sealed.suffix(WireMessage.tagLength)),
                    receivedAt: Date())
                guard await queue.push(.message(message, lines: lines)) else { return }
            case .end(_, let file):
                _ = await queue.push(.end(file, digest: Array(digest.finalize())))
                queue.finish()
                return
            case .keepAlive:
                // The student is still there; receiving the frame has restarted the idle timer.
                continue
            }
        }
    }

    /// Commits each batch of verified messages in one transaction, then acknowledges them; at the end, records
    /// the report with its signed receipt and sends the receipt.
    private static func commitAndAcknowledge(
        _ queue: VerifiedQueue,
        storedAs stored: LazySession,
        sealer: BlackboardRecordLayer.Sealer,
        signer: ReceiptSigner,
        writer: FrameWriter,
        observer: SessionObserver,
        finisher: ReportFinisher
    ) async throws -> ReportSummary? {
        var count: UInt64 = 0
        var totalBytes: UInt64 = 0
        while let batch = await queue.next() {
            let messages = batch.compactMap { item -> StoredMessage? in
                if case .message(let message, _) = item { return message }
                return nil
            }
            // The batch's lines, in one write.
            observer.show(
                batch.compactMap { item -> SessionObserver.PendingLines? in
                    if case .message(_, let lines) = item { return lines }
                    return nil
                })
            for message in messages {
                totalBytes += UInt64(message.content.count)
                count = message.sequence
            }
            let end = batch.lazy.compactMap { item -> (file: SubmittedFile?, digest: [UInt8])? in
                if case .end(let file, let digest) = item { return (file, digest) }
                return nil
            }.first
            var summary =
                end.map { file, digest in
                    ReportSummary(
                        sessionID: stored.record.sessionID,
                        studentID: stored.record.studentID,
                        certificateSerial: stored.record.certificateSerial,
                        messageCount: count,
                        totalBytes: totalBytes,
                        digest: digest,
                        completedAt: Date(),
                        file: file
                    )
                }
            // With the end of the report: its number first, then CUHK's timestamp, outside any transaction.
            var timestamp: ReportTimestamp?
            var ticket: ReportsInFlight.Ticket?
            defer { ticket?.end() }
            if let complete = summary {
                let prepared = try await finisher.prepare(complete, of: stored)
                (summary, timestamp, ticket) = (prepared.report, prepared.timestamp, prepared.ticket)
            }
            // One durable commit for the batch: the session's row the first time, the messages, the report.
            let started = ContinuousClock.now
            let (complete, stamp) = (summary, timestamp)
            let report = try await storing(messages.isEmpty ? "the report" : "messages up to \(count)") {
                try await stored.commit(
                    messages: messages, report: complete, timestamp: stamp,
                    signReceipt: { try signer.sign($0, timestamp: stamp) })
            }
            let bytes = messages.reduce(0) { $0 + $1.content.count }
            queue.committed(messages.count, bytes: bytes)
            observer([.committed(messages: messages.count, bytes: bytes, duration: ContinuousClock.now - started)])
            try await writer.send(contentsOf: messages.map { sealer.acknowledgement($0.sequence) })
            guard let report else { continue }
            try await writer.send(sealer.receipt(report.receipt, messageCount: report.messageCount))
            if let document = try? SignedReceipt.document(of: report.receipt) {
                observer([.receiptSigned(studentID: report.studentID, document: document, size: report.receipt.count)])
            }
            return report
        }
        return nil
    }

    /// Runs a store write; a failure reaches the student as `storage-failed` (`server-busy` while the database cannot
    /// be reached, or the store's own refusal, such as `deadline-passed` or `assignment-closed`), and nothing is
    /// acknowledged.
    static func storing<T>(_ what: String, _ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch let error as CampusError where SessionBatch.refusalCodes.contains(error.code) {
            throw error
        } catch let error as StorageUnavailable {
            throw CampusError(unavailable: error)
        } catch {
            throw CampusError(
                .storageFailed, "\(what) could not be stored durably; it is not acknowledged", cause: error)
        }
    }
}

/// Makes and signs the receipt of a session's report.
struct ReceiptSigner: Sendable {
    let credentials: BlackboardHandshake.Credentials
    let session: BlackboardHandshake.Established

    /// The canonical document of a report, with CUHK's timestamp when it has one (`nil`: the form before timestamps).
    static func document(for report: ReportSummary, timestamp: ReportTimestamp? = nil) throws -> ReceiptDocument {
        let claim: ReceiptDocument.TimestampClaim? =
            switch timestamp {
            case .none: nil
            case .withoutTimestamp: .withoutTimestamp
            case .cuhk(let token, _): .cuhk(token: token)
            }
        return try ReceiptDocument(
            studentID: report.studentID.rawValue,
            certificateSerial: report.certificateSerial,
            assignment: report.assignment,
            deadline: report.deadline,
            report: UInt64(report.id),
            messageCount: report.messageCount,
            totalBytes: report.totalBytes,
            contentSHA256: report.digest,
            committedAt: report.completedAt,
            isLate: report.isLate,
            timestamp: claim
        )
    }

    /// The CMS SignedData of a report's receipt.
    @Sendable func sign(_ report: ReportSummary, timestamp: ReportTimestamp? = nil) throws -> [UInt8] {
        try SignedReceipt.sign(
            Self.document(for: report, timestamp: timestamp), certificate: credentials.certificate,
            privateKey: credentials.privateKey)
    }
}

/// What happens between the end of a report and its commit: the number is reserved and CUHK timestamps the report.
struct ReportFinisher: Sendable {
    let timestamper: ReportTimestamper
    let inFlight: ReportsInFlight
    let logger: Logger

    /// The report with its reserved number, CUHK's timestamp of it, and its place among the reports in flight (to
    /// end after the commit).
    ///
    /// - Throws: ``CampusError`` `storage-failed` when no number can be reserved, `timestamp-unavailable` in hard
    ///   mode.
    func prepare(_ report: ReportSummary, of session: LazySession) async throws -> (
        report: ReportSummary, timestamp: ReportTimestamp, ticket: ReportsInFlight.Ticket
    ) {
        var report = report
        report.id = try await ReportReceiver.storing("the report's number") {
            try await session.store.reserveReportNumber()
        }
        let ticket = inFlight.begin(assignment: session.record.assignment.name)
        do {
            let timestamp = try await timestamper.timestamp(
                TimestampedReport(
                    studentID: report.studentID.rawValue, assignment: session.record.assignment.name,
                    report: UInt64(report.id), contentSHA256: report.digest),
                logger: logger)
            if case .cuhk(_, let time) = timestamp { ticket.record(generationTime: time) }
            return (report, timestamp, ticket)
        } catch {
            ticket.end()
            throw error
        }
    }
}

/// The session in the store: its row is written with its first batch, so a session that never sends anything
/// costs no write. Only the committing task commits; the session is marked failed after that task has ended.
final class LazySession: Sendable {
    let record: SessionRecord
    let store: any ReportStore
    let limits: StorageLimits
    private let number = Mutex<Int64?>(nil)

    init(record: SessionRecord, store: any ReportStore, limits: StorageLimits) {
        self.record = record
        self.store = store
        self.limits = limits
    }

    /// Commits a batch.
    ///
    /// - Returns: The report as stored when `report` completed it.
    func commit(
        messages: [StoredMessage], report: ReportSummary?, timestamp: ReportTimestamp?,
        signReceipt: @escaping SessionBatch.ReceiptSigner
    ) async throws -> ReportSummary? {
        let batch = SessionBatch(
            session: record,
            storedSession: number.withLock { $0 },
            messages: messages,
            report: report,
            signReceipt: report == nil ? nil : signReceipt,
            limits: limits,
            timestamp: timestamp
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
///
/// Bounded: ``push(_:)`` waits while `capacity` messages, or messages holding `byteCapacity` bytes of content, are
/// queued or being committed, so the reading task stops reading the connection until a commit makes room.
final class VerifiedQueue: Sendable {
    enum Item: Sendable {
        /// A verified message, with its terminal line.
        case message(StoredMessage, lines: SessionObserver.PendingLines)
        /// The end of the report, with the file it came from when the student said, and the SHA-256 of every
        /// message's content in order.
        case end(SubmittedFile?, digest: [UInt8])
    }

    private struct State {
        var items: [Item] = []
        /// Messages pushed and not yet committed (queued or in the batch being committed).
        var pending = 0
        /// Their content's bytes.
        var pendingBytes = 0
        var finished = false
        var cancelled = false
        var waiter: CheckedContinuation<[Item]?, Never>?
        var producer: CheckedContinuation<Bool, Never>?
        /// The most messages ever pending at once, for tests.
        var highWater = 0

        /// Whether one more message may be pushed: fewer than `capacity` pending, holding less than `byteCapacity`.
        func hasRoom(capacity: Int, byteCapacity: Int) -> Bool {
            pending < capacity && pendingBytes < byteCapacity
        }
    }

    let capacity: Int
    let byteCapacity: Int
    private let state = Mutex(State())

    init(capacity: Int, byteCapacity: Int) {
        self.capacity = max(capacity, 1)
        self.byteCapacity = max(byteCapacity, 1)
    }

    /// The most messages that were ever pending at once.
    var highWater: Int { state.withLock { $0.highWater } }

    /// Adds an item, first waiting for room when the window is full; wakes the committing task if it waits.
    ///
    /// - Returns: `false` when the queue was cancelled (the committing task failed).
    func push(_ item: Item) async -> Bool {
        let size: Int? = if case .message(let message, _) = item { message.content.count } else { nil }
        if size != nil {
            let hasRoom = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                state.withLock { state in
                    if state.cancelled {
                        continuation.resume(returning: false)
                    } else if state.hasRoom(capacity: capacity, byteCapacity: byteCapacity) {
                        continuation.resume(returning: true)
                    } else {
                        state.producer = continuation
                    }
                }
            }
            guard hasRoom else { return false }
        }
        state.withLock { state in
            if let size {
                state.pending += 1
                state.pendingBytes += size
                state.highWater = max(state.highWater, state.pending)
            }
            state.items.append(item)
            if let waiter = state.waiter {
                state.waiter = nil
                let items = state.items
                state.items.removeAll(keepingCapacity: true)
                waiter.resume(returning: items)
            }
        }
        return true
    }

    /// `count` messages holding `bytes` of content were committed: their room is free again.
    func committed(_ count: Int, bytes: Int) {
        state.withLock { state in
            state.pending -= count
            state.pendingBytes -= bytes
            if state.hasRoom(capacity: capacity, byteCapacity: byteCapacity), let producer = state.producer {
                state.producer = nil
                producer.resume(returning: true)
            }
        }
    }

    /// The committing task failed: a waiting producer gives up.
    func cancel() {
        state.withLock { state in
            state.cancelled = true
            state.producer?.resume(returning: false)
            state.producer = nil
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
