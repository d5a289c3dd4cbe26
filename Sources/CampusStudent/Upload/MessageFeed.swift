import Foundation
import Synchronization

/// Hands the report's messages to the upload one at a time, and says when none has come for a while so that the
/// session can be kept alive (a person typing at a terminal may pause longer than Blackboard's idle timeout).
public protocol MessageFeed {
    /// The next message, `.end` at the end of the input, or `.idle` when nothing came within `waitingAtMost`.
    mutating func next(waitingAtMost: Duration) async throws -> FeedItem
}

/// What a ``MessageFeed`` gives.
public enum FeedItem: Sendable, Equatable {
    case message([UInt8])
    case end
    case idle
}

/// A feed over messages that are all there already (`--message`, a file): never idle.
public struct SequenceFeed: MessageFeed {
    private var iterator: AnyIterator<[UInt8]>

    public init(_ messages: some Sequence<[UInt8]>) {
        var base = messages.makeIterator()
        iterator = AnyIterator { base.next() }
    }

    public mutating func next(waitingAtMost: Duration) async throws -> FeedItem {
        iterator.next().map(FeedItem.message) ?? .end
    }
}

/// Standard input, one message per line, read on a thread of its own so that waiting for a person to type never
/// blocks the session. Each line keeps its line break (`\n`, or `\r\n` as typed), so the report's bytes are
/// exactly the input's: an export gives the text back as it was written.
public final class LineFeed: MessageFeed, Sendable {
    private struct State {
        var lines: [[UInt8]] = []
        var ended = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<FeedItem, Never>)?
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Starts reading standard input.
    public init() {
        let thread = Thread { [self] in
            while let line = readLine(strippingNewline: false) { push(.message(Array(line.utf8))) }
            push(.end)
        }
        thread.start()
    }

    private func push(_ item: FeedItem) {
        state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                if case .end = item { state.ended = true }
                waiter.continuation.resume(returning: item)
                return
            }
            switch item {
            case .message(let line): state.lines.append(line)
            default: state.ended = true
            }
        }
    }

    public func next(waitingAtMost limit: Duration) async throws -> FeedItem {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task { [self] in
            try await Task.sleep(for: limit)
            state.withLock { state in
                guard let waiter = state.waiter, waiter.id == id else { return }
                state.waiter = nil
                waiter.continuation.resume(returning: .idle)
            }
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            state.withLock { state in
                if !state.lines.isEmpty {
                    continuation.resume(returning: .message(state.lines.removeFirst()))
                } else if state.ended {
                    continuation.resume(returning: .end)
                } else {
                    state.waiter = (id, continuation)
                }
            }
        }
    }
}
