/// A feed that can start again from its first message: what it has given is kept, so a retry after a lost session
/// sends the whole report again, then goes on with what the base feed gives next. For standard input, whose lines
/// cannot be read twice; a file or `--message` texts are simply read again.
public final class ReplayingFeed: MessageFeed {
    private var base: any MessageFeed
    private var given: [[UInt8]] = []
    private var position = 0
    private var ended = false

    public init(_ base: any MessageFeed) {
        self.base = base
    }

    /// Starts again from the first message.
    public func rewind() {
        position = 0
    }

    public func next(waitingAtMost limit: Duration) async throws -> FeedItem {
        if position < given.count {
            position += 1
            return .message(given[position - 1])
        }
        if ended { return .end }
        let item = try await base.next(waitingAtMost: limit)
        switch item {
        case .message(let content):
            given.append(content)
            position += 1
        case .end:
            ended = true
        case .idle:
            break
        }
        return item
    }
}
