import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import CampusPKI

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct FramedServerTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// `TCP_NODELAY` is a TCP option. The same number at the socket level is `SO_DEBUG`, which only root may set:
    /// setting that instead stopped every server run by an ordinary user at its first connection.
    @Test func acceptedConnectionsHaveNoDelayAndNotSODebug() async throws {
        let options = Mutex<(noDelay: Int, debug: Int)?>(nil)
        let server = FramedServer(configuration: .init(port: 0), firstExpected: "a frame", logger: Self.quiet) {
            frames, _ in
            let noDelay = try await frames.channel.getOption(.tcpOption(.tcp_nodelay)).get()
            let debug = try await frames.channel.getOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_DEBUG))).get()
            options.withLock { $0 = (noDelay, debug) }
            _ = try await frames.receive()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let address = try await server.listeningAddress()
            _ = try await FramedClient.withConnection(to: .init(host: "127.0.0.1", port: address.port ?? 0)) { frames in
                try await frames.send(.keepAlive)
            }
            while options.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        let seen = try #require(options.withLock { $0 })
        #expect(seen.noDelay != 0)
        #expect(seen.debug == 0)
    }
}

@Suite struct ControlCharacterTests {
    @Test func escapesWhatCouldForgeALineOrDriveATerminal() {
        #expect(ControlCharacters.escaped("plain text") == "plain text")
        #expect(ControlCharacters.escaped("a\nb") == "a\\nb")
        #expect(ControlCharacters.escaped("\u{1B}[31mred") == "\\u{1B}[31mred")
        #expect(ControlCharacters.escaped("back\\slash") == "back\\\\slash")
        #expect(ControlCharacters.escaped("\u{202E}txt") == "\\u{202E}txt")
        #expect(ControlCharacters.escaped("tab\there\r") == "tab\\there\\r")
        #expect(ControlCharacters.escaped("é ü 学") == "é ü 学")
    }

    @Test func everyEscapedStringIsOneLineWithoutControlBytes() {
        let hostile = (0..<256).map { Character(Unicode.Scalar(UInt8($0))) }.map(String.init).joined()
        let escaped = ControlCharacters.escaped(hostile)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }
}
