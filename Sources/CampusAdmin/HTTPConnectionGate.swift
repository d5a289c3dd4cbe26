import Logging
import NIOCore
import Synchronization

/// Counts the connections one HTTP port serves, and the refused ones still waiting to close, so that a flood of
/// connections costs a bounded number of descriptors: at most ``HTTPLimits/maximumConnections`` served and
/// ``HTTPLimits/maximumLingeringRefusals`` refused.
public final class HTTPConnectionGate: Sendable {
    private struct State {
        var open = 0
        var lingering = 0
        var refusedSinceReport = 0
        var lastReport: NIODeadline?
    }

    /// A burst of refusals is logged once, then at most this often.
    static let reportInterval = TimeAmount.seconds(10)

    /// Connections served at once.
    public let maximumConnections: Int
    private let what: String
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameter what: The port's purpose, named in the log (`the OCSP responder`).
    public init(maximumConnections: Int, what: String, logger: Logger) {
        self.maximumConnections = maximumConnections
        self.what = what
        self.logger = logger
    }

    /// Connections served now.
    public var openConnections: Int { state.withLock { $0.open } }

    /// Takes a place for a new connection; `false` when every place is taken (the connection is to be refused).
    func admit() -> Bool {
        let now = NIODeadline.now()
        let (admitted, report) = state.withLock { state -> (Bool, Int?) in
            if state.open < maximumConnections {
                state.open += 1
                return (true, nil)
            }
            state.refusedSinceReport += 1
            if let last = state.lastReport, now - last < Self.reportInterval { return (false, nil) }
            state.lastReport = now
            defer { state.refusedSinceReport = 0 }
            return (false, state.refusedSinceReport)
        }
        if let report {
            logger.warning(
                "refusing HTTP connections: \(what) serves \(maximumConnections) already",
                metadata: [
                    "refused": "\(report)",
                    "hint": "lower the clients' connection count, or raise --http-max-connections",
                ])
        }
        return admitted
    }

    /// Gives back the place of a connection that has closed.
    func release() {
        state.withLock { $0.open = max(0, $0.open - 1) }
    }

    /// Whether a refused connection may wait for its client to read the answer; `false` when too many do already.
    func beginLingering() -> Bool {
        state.withLock { state in
            guard state.lingering < HTTPLimits.maximumLingeringRefusals else { return false }
            state.lingering += 1
            return true
        }
    }

    /// A refused connection that waited has closed.
    func endLingering() {
        state.withLock { $0.lingering = max(0, $0.lingering - 1) }
    }
}
