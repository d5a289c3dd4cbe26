import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusStudent
import NIOCore
import Testing

/// One address cannot take all of a server's places with connections that prove nothing (SECURITY.md 2.5): Blackboard
/// counts an address's connections until their handshakes complete, CUHK as long as they are served.
@Suite struct ConnectionsPerAddressTests {
    /// A frame neither server takes: an admitted connection is answered `unsupported-version` once it is read.
    static let notAMessage: [UInt8] = [0, 0, 0, 2, 9, 9]

    /// The error frame a new connection from `source` gets for ``notAMessage``.
    static func probe(_ address: ServerAddress, from source: String? = nil) async throws -> CampusError? {
        try await RawClient.error(address, sending: notAMessage, from: source)
    }

    /// Probes until the answer satisfies `done`, for up to 60 s; the last answer.
    static func probe(
        _ address: ServerAddress, until done: (CampusError?) -> Bool, reopening idle: inout [any Channel]
    ) async throws -> CampusError? {
        let started = ContinuousClock.now
        while true {
            let answer = try await probe(address)
            if done(answer) || ContinuousClock.now - started > .seconds(60) { return answer }
            // A connection the server refused (its task ran after a probe's, which held the last place) is closed by
            // the server; another takes its place.
            for index in idle.indices where !idle[index].isActive {
                idle[index] = try await IdleConnections.open(1, to: address)[0]
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Opens `count` connections that send nothing and waits until they are all counted: until a further connection
    /// from the same address is refused. With a limit of `count`, a refusal means every place is taken by them.
    static func fill(_ count: Int, of address: ServerAddress) async throws -> [any Channel] {
        var idle = try await IdleConnections.open(count, to: address)
        let answer = try await probe(address, until: { $0?.code == .serverBusy }, reopening: &idle)
        #expect(answer?.code == .serverBusy, "a connection beyond the limit was answered \(String(describing: answer))")
        if let answer, answer.code == .serverBusy {
            #expect(answer.reason.contains("from 127.0.0.1"), "\(answer.reason)")
            #expect(answer.reason.contains("\(count) unfinished connection"), "\(answer.reason)")
        }
        return idle
    }

    /// Closes `idle` and waits until a new connection from the same address is served again.
    static func release(_ idle: [any Channel], of address: ServerAddress) async throws {
        for channel in idle { try? await channel.close() }
        var none: [any Channel] = []
        let answer = try await probe(address, until: { $0?.code == .unsupportedVersion }, reopening: &none)
        #expect(answer?.code == .unsupportedVersion, "after the close: \(String(describing: answer))")
    }

    @Test func blackboardRefusesOnlyTheAddressAtItsLimitOfHandshakes() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumHandshakesPerAddress = 2 }) { servers in
            let address = servers.blackboardAddress
            let idle = try await Self.fill(2, of: address)
            // Another address has places of its own (an IPv4 address is a client; Linux routes all of 127/8 to lo).
            #expect(try await Self.probe(address, from: "127.0.0.2")?.code == .unsupportedVersion)
            try await Self.release(idle, of: address)
            // And a student from the address that was at its limit gets through.
            let credentials = try await servers.enroll(sid)
            let result = try await servers.uploader().upload([Array("after the flood".utf8)], as: credentials)
            #expect(result.receipt.document.messageCount == 1)
        }
    }

    @Test func anEstablishedSessionNoLongerCountsForItsAddress() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumHandshakesPerAddress = 1 }) { servers in
            let address = servers.blackboardAddress
            let credentials = try await servers.enroll(sid)
            try await FramedClient.withConnection(to: address) { frames in
                var records = try await servers.uploader().handshake(on: frames, credentials: credentials).records
                // The session is open and its handshake complete: its place is free for another connection.
                var none: [any Channel] = []
                let answer = try await Self.probe(
                    address, until: { $0?.code == .unsupportedVersion }, reopening: &none)
                #expect(answer?.code == .unsupportedVersion, "beside a session: \(String(describing: answer))")
                // Which a connection that proves nothing takes; the session goes on.
                let idle = try await Self.fill(1, of: address)
                try await frames.send(records.seal(Array("still here".utf8)).0)
                #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
                for channel in idle { try? await channel.close() }
            }
        }
    }

    @Test func cuhkRefusesOnlyTheAddressAtItsLimitOfConnections() async throws {
        try await LiveServers.with(configureCUHK: { $0.maximumConnectionsPerAddress = 1 }) { servers in
            let address = servers.cuhkAddress
            let idle = try await Self.fill(1, of: address)
            #expect(try await Self.probe(address, from: "127.0.0.2")?.code == .unsupportedVersion)
            try await Self.release(idle, of: address)
            let credentials = try await servers.enroll(sid)
            #expect(credentials.certificate.subject.studentID == sid)
        }
    }

    /// The flags reach the servers.
    @Test func theProgramsTakeTheirLimitsPerAddress() async throws {
        let servers = try await ServerProcesses.start(
            cuhkArguments: ["--max-connections-per-address", "1"],
            blackboardArguments: ["--max-handshakes-per-address", "1"])
        defer { servers.stop() }
        for address in [servers.cuhkAddress, servers.blackboardAddress] {
            let idle = try await Self.fill(1, of: address)
            try await Self.release(idle, of: address)
        }
        #expect(
            try await Program.blackboard.run(["--max-handshakes-per-address", "-1"], in: servers.directory).status != 0)
    }
}
