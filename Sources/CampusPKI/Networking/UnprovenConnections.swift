import Logging
import NIOCore
import Synchronization

/// The connections of each client address that have not finished what proves them yet, so that one client cannot
/// take all of a server's places (``FramedServer/Configuration/maximumUnprovenPerAddress``).
///
/// A client is its ``SourceAddress``: an IPv4 address, or an IPv6 /64. What "finished" means is the server's: a
/// ``FramedServer/Serving/opened(_:)`` connection counts until its opener returns (Blackboard: until the handshake
/// is complete), a ``FramedServer/Serving/whole(_:)`` connection as long as it is served (CUHK).
///
/// Refusals are logged once per burst, then at most every ``RefusalReports/interval``, with their number: a client
/// that reconnects as fast as it is refused cannot fill the log.
final class UnprovenConnections: Sendable {
    /// A connection refused because its address is at the limit; the error its peer is sent.
    struct Refused: Error {
        let error: CampusError
    }

    private struct State {
        var counts: [SourceAddress: Int] = [:]
        var reports = RefusalReports()
    }

    /// The most connections one address may have counted at once; 0: no limit, and nothing is counted.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a connection from `address` in, unless that address has ``limit`` already.
    ///
    /// - Throws: ``Refused``, with nothing counted, when the address is at the limit.
    func admit(_ address: SourceAddress, logger: Logger) throws(Refused) {
        let now = NIODeadline.now()
        let (admitted, report) = state.withLock { state -> (Bool, Int?) in
            let count = state.counts[address, default: 0]
            if count < limit {
                state.counts[address] = count + 1
                return (true, nil)
            }
            return (false, state.reports.refused(at: now))
        }
        guard !admitted else { return }
        let error = CampusError(
            .serverBusy,
            "the server is at its limit of \(Count.of(limit, "unfinished connection")) from \(address); "
                + "try again when one has finished")
        if let report {
            logger.warning(
                "refusing connections from an address at its limit",
                metadata: [
                    "address": "\(address)", "limit": "\(limit)", "refused-since-last-report": "\(report)",
                    "hint": "one client holds this many connections that have proven nothing",
                ])
        }
        throw Refused(error: error)
    }

    /// Counts out a connection that ``admit(_:logger:)`` counted in.
    func release(_ address: SourceAddress) {
        state.withLock { state in
            guard let count = state.counts[address] else { return }
            state.counts[address] = count > 1 ? count - 1 : nil
        }
    }

    /// How many connections `address` has counted now.
    func count(of address: SourceAddress) -> Int {
        state.withLock { $0.counts[address, default: 0] }
    }
}
