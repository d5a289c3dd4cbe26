import NIOCore
import Testing

@testable import CampusPKI

/// The count behind each server's limit per address.
@Suite struct UnprovenConnectionsTests {
    static func source(_ text: String) throws -> SourceAddress {
        try #require(SourceAddress(try SocketAddress(ipAddress: text, port: 40_000)))
    }

    @Test func anAddressIsRefusedAtItsLimitAndServedAgainAfterARelease() throws {
        let counts = UnprovenConnections(limit: 2)
        let one = try Self.source("198.51.100.7")
        #expect(counts.admit(one) && counts.admit(one))
        #expect(!counts.admit(one))
        #expect(counts.count(of: one) == 2, "a refusal is not counted")
        // Another address has places of its own.
        #expect(counts.admit(try Self.source("198.51.100.8")))
        counts.release(one)
        #expect(counts.count(of: one) == 1)
        #expect(counts.admit(one))
        #expect(!counts.admit(one))
    }

    @Test func anIPv6NetworkIsOneClientAndAMappedIPv4AddressIsItsIPv4Address() throws {
        let counts = UnprovenConnections(limit: 1)
        #expect(counts.admit(try Self.source("2001:db8:0:1::5")))
        // Another machine of the same /64: the same client.
        #expect(!counts.admit(try Self.source("2001:db8:0:1:abcd::9")))
        #expect(counts.admit(try Self.source("2001:db8:0:2::5")))
        #expect(counts.admit(try Self.source("203.0.113.9")))
        #expect(!counts.admit(try Self.source("::ffff:203.0.113.9")))
    }

    @Test func releasingEveryConnectionForgetsTheAddress() throws {
        let counts = UnprovenConnections(limit: 3)
        let one = try Self.source("198.51.100.7")
        for _ in 0..<3 { #expect(counts.admit(one)) }
        for _ in 0..<3 { counts.release(one) }
        #expect(counts.count(of: one) == 0)
        // A release without an admission (never made) leaves nothing below zero.
        counts.release(one)
        #expect(counts.admit(one) && counts.admit(one) && counts.admit(one))
        #expect(!counts.admit(one))
    }
}
