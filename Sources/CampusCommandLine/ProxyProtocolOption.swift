import ArgumentParser
import CampusPKI

/// `--proxy-protocol-from` of `cuhk serve` and `blackboard serve`: the load balancers whose connections begin with a
/// PROXY protocol version 2 header naming the student (HAProxy's `send-proxy-v2`).
public struct ProxyProtocolOption: ParsableArguments {
    @Option(
        name: .customLong("proxy-protocol-from"),
        help: ArgumentHelp(
            "A load balancer's IP address whose connections begin with a PROXY protocol v2 header (repeatable).",
            discussion: """
                HAProxy's send-proxy-v2: the student's address then stands for the connection in CUHK's wrong-code \
                throttle, in the log and in Blackboard's session records. Connections from other addresses are \
                served as they come.
                """,
            valueName: "address"))
    public var addresses: [String] = []

    public init() {}

    public func validate() throws {
        _ = try peers
    }

    /// The trusted load balancers.
    public var peers: ProxyProtocol.TrustedPeers {
        get throws {
            do {
                return try ProxyProtocol.TrustedPeers(parsing: addresses)
            } catch {
                throw ValidationError("--proxy-protocol-from: \(error)")
            }
        }
    }
}
