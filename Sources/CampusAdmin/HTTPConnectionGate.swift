import CampusPKI
import Logging
import NIOCore
import Synchronization

/// Counts the connections one HTTP port serves, and the refused ones still waiting to close, so that a flood of
/// connections costs a bounded number of descriptors: at most ``HTTPLimits/maximumConnections`` served and
/// ``HTTPLimits/maximumLingeringRefusals`` refused; and the connections of each client address (an IPv4 address, or
/// an IPv6 /64), so that one client cannot take every place: at most ``HTTPLimits/maximumConnectionsPerAddress``.
public final class HTTPConnectionGate: Sendable {
    private struct State {
        var open = 0
        var perAddress: [SourceAddress: Int] = [:]
        var lingering = 0
        var reports = RefusalReports()
    }

    /// A new connection's place, or why it has none.
    enum Admission: Equatable {
        /// Served; its address is counted (`nil` when addresses are not counted).
        case admitted(SourceAddress?)
        /// Every place of the port is taken.
        case atLimit
        /// Its address has ``HTTPConnectionGate/maximumPerAddress`` connections already.
        case addressAtLimit(SourceAddress)
    }

    /// Connections served at once.
    public let maximumConnections: Int
    /// Connections served at once from one address; 0: not counted.
    public let maximumPerAddress: Int
    private let what: String
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maximumPerAddress: Connections served at once from one address; 0: no limit.
    ///   - what: The port's purpose, named in the log (`the OCSP responder`).
    public init(maximumConnections: Int, maximumPerAddress: Int = 0, what: String, logger: Logger) {
        self.maximumConnections = maximumConnections
        self.maximumPerAddress = max(0, maximumPerAddress)
        self.what = what
        self.logger = logger
    }

    /// Connections served now.
    public var openConnections: Int { state.withLock { $0.open } }

    /// Takes a place for a new connection from `peer`, unless every place of the port is taken or its address has
    /// as many as it may (the connection is then to be refused).
    func admit(from peer: SocketAddress?) -> Admission {
        let now = NIODeadline.now()
        let source = maximumPerAddress > 0 ? peer.flatMap(SourceAddress.init) : nil
        let (admission, report) = state.withLock { state -> (Admission, Int?) in
            let admission: Admission
            if state.open >= maximumConnections {
                admission = .atLimit
            } else if let source, state.perAddress[source, default: 0] >= maximumPerAddress {
                admission = .addressAtLimit(source)
            } else {
                state.open += 1
                if let source { state.perAddress[source, default: 0] += 1 }
                return (.admitted(source), nil)
            }
            return (admission, state.reports.refused(at: now))
        }
        if let report {
            switch admission {
            case .addressAtLimit(let source):
                logger.warning(
                    "refusing HTTP connections: \(what) serves \(maximumPerAddress) from \(source) already",
                    metadata: [
                        "refused": "\(report)",
                        "hint": "a proxy in front of many clients needs --http-max-connections-per-address",
                    ])
            default:
                logger.warning(
                    "refusing HTTP connections: \(what) serves \(maximumConnections) already",
                    metadata: [
                        "refused": "\(report)",
                        "hint": "lower the clients' connection count, or raise --http-max-connections",
                    ])
            }
        }
        return admission
    }

    /// Gives back the place of a connection that has closed, which ``admit(from:)`` admitted with `source`.
    func release(_ source: SourceAddress?) {
        state.withLock { state in
            state.open = max(0, state.open - 1)
            guard let source, let count = state.perAddress[source] else { return }
            state.perAddress[source] = count > 1 ? count - 1 : nil
        }
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
