import CampusAdmin
import CampusPKI
import Metrics
import Synchronization

/// Blackboard's metrics, fed by the same ``SessionEvent`` values that make the terminal lines.
public final class BlackboardMetrics: Sendable {
    public let metrics: ServerMetrics
    private let open = Atomic<Int>(0)
    private let connections: Gauge
    private let established: Counter
    private let messages: Counter
    private let bytes: Counter
    private let receipts: Counter
    private let handshakeDuration: Metrics.Timer
    private let commitDuration: Metrics.Timer

    public init(metrics: ServerMetrics = ServerMetrics()) {
        self.metrics = metrics
        connections = metrics.gauge("blackboard_connections_open")
        established = metrics.counter("blackboard_handshakes_total", [("outcome", "established")])
        messages = metrics.counter("blackboard_messages_stored_total")
        bytes = metrics.counter("blackboard_bytes_stored_total")
        receipts = metrics.counter("blackboard_receipts_signed_total")
        handshakeDuration = metrics.timer("blackboard_handshake_duration_seconds")
        commitDuration = metrics.timer("blackboard_commit_duration_seconds")
        connections.record(0)
    }

    /// One request for CUHK's timestamp of a report, and what came of it (`blackboard_timestamps_total`).
    public func record(_ outcome: ReportTimestamper.Outcome) {
        metrics.counter("blackboard_timestamps_total", [("outcome", outcome.rawValue)]).increment()
    }

    /// The observer's sink.
    public var sink: SessionObserver.Sink {
        { [self] event in self.record(event) }
    }

    func record(_ event: SessionEvent) {
        switch event {
        case .connectionOpened:
            connections.record(open.add(1, ordering: .relaxed).newValue)
        case .connectionClosed:
            connections.record(open.subtract(1, ordering: .relaxed).newValue)
        case .handshakeFinished(let refusal, let duration):
            handshakeDuration.record(duration)
            if let refusal {
                metrics.counter("blackboard_handshakes_total", [("outcome", refusal.name)]).increment()
            } else {
                established.increment()
            }
        case .committed(let count, let size, let duration):
            commitDuration.record(duration)
            messages.increment(by: count)
            bytes.increment(by: size)
        case .receiptSigned:
            receipts.increment()
        default:
            break
        }
    }
}
