import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a client connects from, as a throttle counts it: an IPv4 address, or the /64 network of an IPv6 address
/// (one machine, or one home or office network, holds a whole /64). An IPv4 address in IPv6 form
/// (`::ffff:198.51.100.7`) counts as that IPv4 address.
public struct SourceAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `198.51.100.7`, or `2001:db8:0:1::/64`.
    public let description: String

    /// The address of a connected peer; `nil` for a Unix socket.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            description = withUnsafeBytes(of: &raw) { Self.ipv4(Array($0)) }
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            description = withUnsafeBytes(of: &raw) { Self.ipv6(Array($0)) }
        default:
            return nil
        }
    }

    /// Reads an address as an operator types it: `198.51.100.7`, an IPv6 address, or an IPv6 /64 as listed
    /// (`2001:db8:0:1::/64`).
    public init?(_ text: String) {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("/64") { text.removeLast(3) }
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        self.init(address)
    }

    static func ipv4(_ bytes: [UInt8]) -> String {
        bytes.map(String.init).joined(separator: ".")
    }

    static func ipv6(_ bytes: [UInt8]) -> String {
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return ipv4(Array(bytes[12..<16]))
        }
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }

    public static func < (lhs: SourceAddress, rhs: SourceAddress) -> Bool { lhs.description < rhs.description }
}
