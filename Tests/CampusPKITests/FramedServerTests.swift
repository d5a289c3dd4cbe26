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

    /// What an opening server's opener and continuation saw.
    final class Seen: Sendable {
        let openerTask = Mutex<Int?>(nil)
        let restTask = Mutex<Int?>(nil)
    }

    /// The rest of a connection: reads one frame, then refuses the connection with a code the client can see.
    final class Rest: FramedServer.OpenedConnection {
        let seen: Seen
        init(seen: Seen) { self.seen = seen }

        func serve(_ frames: FrameChannel) async throws {
            seen.restTask.withLock { $0 = withUnsafeCurrentTask { $0?.hashValue } }
            _ = try await frames.receive()
            throw CampusError(.unexpectedMessage, "the rest of the connection ends it")
        }
    }

    static func withOpeningServer<T: Sendable>(
        _ opener: @escaping FramedServer.Opener, _ body: (ServerAddress) async throws -> T
    ) async throws -> T {
        let server = FramedServer(
            configuration: .init(port: 0), firstExpected: "a frame", logger: quiet, serving: .opened(opener))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let address = try await server.listeningAddress()
            return try await body(.init(host: "127.0.0.1", port: address.port ?? 0))
        }
    }

    /// The opener runs in a task of its own and reads the connection's first frame; what it returns reads the next
    /// one in another task (the connection's), and its error reaches the peer as an error frame.
    @Test func anOpenedConnectionContinuesInAnotherTaskWhereTheOpenerLeftIt() async throws {
        let seen = Seen()
        let answer = try await Self.withOpeningServer({ frames, _ in
            seen.openerTask.withLock { $0 = withUnsafeCurrentTask { $0?.hashValue } }
            _ = try await frames.receive()
            return Rest(seen: seen)
        }) { address in
            try await FramedClient.withConnection(to: address) { frames in
                try await frames.send(.keepAlive)
                try await frames.send(.keepAlive)
                return try await frames.receive().message
            }
        }
        guard case .error(let error) = answer else {
            Issue.record("expected an error frame, got \(answer)")
            return
        }
        #expect(error.code == .unexpectedMessage)
        #expect(error.reason == "the rest of the connection ends it")
        let opener = try #require(seen.openerTask.withLock { $0 })
        let rest = try #require(seen.restTask.withLock { $0 })
        #expect(opener != rest)
    }

    /// An opener that returns `nil` ends the connection; one that throws sends its error.
    @Test func anOpenerEndsTheConnectionWithNilOrWithItsError() async throws {
        let closed = try await Self.withOpeningServer({ frames, _ in
            _ = try await frames.receive()
            return nil
        }) { address in
            try await FramedClient.withConnection(to: address) { frames in
                try await frames.send(.keepAlive)
                do {
                    _ = try await frames.receive()
                    return false
                } catch let error as CampusError {
                    return error.code == .connectionClosed
                }
            }
        }
        #expect(closed)
        let refusal = try await Self.withOpeningServer({ _, _ in
            throw CampusError(.serverBusy, "not now")
        }) { address in
            try await FramedClient.withConnection(to: address) { frames in try await frames.receive().message }
        }
        guard case .error(let error) = refusal else {
            Issue.record("expected an error frame, got \(refusal)")
            return
        }
        #expect(error.code == .serverBusy)
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
