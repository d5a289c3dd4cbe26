import Synchronization

/// The connections of each client address that have not finished what proves them yet, so that one client cannot
/// take all of a server's places (``FramedServer/Configuration/maximumUnprovenPerAddress``).
///
/// A client is its ``SourceAddress``: an IPv4 address, or an IPv6 /64. What "finished" means is the server's: a
/// ``FramedServer/Serving/opened(_:)`` connection counts until its opener returns (Blackboard: until the handshake
/// is complete), a ``FramedServer/Serving/whole(_:)`` connection as long as it is served (CUHK).
final class UnprovenConnections: Sendable {
    /// The most connections one address may have counted at once; 0: no limit, and nothing is counted.
    let limit: Int
    private let counts = Mutex<[SourceAddress: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a connection from `address` in, unless that address has ``limit`` already.
    ///
    /// - Returns: `false`, and nothing counted, when the address is at the limit.
    func admit(_ address: SourceAddress) -> Bool {
        counts.withLock { counts in
            let count = counts[address, default: 0]
            guard count < limit else { return false }
            counts[address] = count + 1
            return true
        }
    }

    /// Counts out a connection that ``admit(_:)`` counted in.
    func release(_ address: SourceAddress) {
        counts.withLock { counts in
            guard let count = counts[address] else { return }
            counts[address] = count > 1 ? count - 1 : nil
        }
    }

    /// How many connections `address` has counted now.
    func count(of address: SourceAddress) -> Int {
        counts.withLock { $0[address, default: 0] }
    }
}
