import Metrics
import Prometheus

/// A server's metrics: its own Prometheus registry, filled through swift-metrics, shown at `GET /metrics`.
///
/// Each server has its own registry (not the process-wide bootstrap), so CUHK and Blackboard in one process
/// (`campus-demo`, the tests) keep their figures apart.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    public func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Counter {
        Metrics.Counter(label: label, dimensions: dimensions, factory: factory)
    }

    public func gauge(_ label: String) -> Metrics.Gauge {
        Metrics.Gauge(label: label, factory: factory)
    }

    public func timer(_ label: String) -> Metrics.Timer {
        Metrics.Timer(label: label, dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
    }

    /// The Prometheus text format.
    public func exposition() -> String {
        registry.emitToString()
    }
}

extension Metrics.Timer {
    /// Records a duration measured with `ContinuousClock`.
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
