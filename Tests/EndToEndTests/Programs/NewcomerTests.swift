import CampusPKI
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import X509

/// The mistakes a newcomer makes in the first hour, run as they would run them.
@Suite struct NewcomerTests {
    /// Words that mean the message was written for the program's authors, not its users.
    static let internals = ["SingleConnectionFailure", "errno", "NIO", "Error(", ".swift", "UTF8View", "IOError"]

    static func expectPlain(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for word in internals {
            #expect(!text.contains(word), "\"\(word)\" in: \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func withNoCUHKTheStudentSaysWhereItLookedAndWhatToCheck() async throws {
        let directory = try temporaryDirectory()
        let port = try await ClosedPort.find()
        let outcome = try await Program.student.run(
            ["--sid", "1155123456", "--message", "hi", "--ca", "127.0.0.1:\(port)"], in: directory)
        #expect(outcome.status == 5)
        #expect(
            outcome.errorOutput.contains(
                "cannot reach CUHK at 127.0.0.1:\(port) (connection refused): is cuhk running there? see --ca"))
        Self.expectPlain(outcome.all)
    }

    @Test func aDirectoryAsTheReportIsRefusedBeforeAnyServerIsContacted() async throws {
        let directory = try temporaryDirectory()
        let listener = try await CountingListener.start()
        let outcome = try await Program.student.run(
            ["--sid", "1155123456", "--file", "/tmp", "--ca", listener.address, "--blackboard", listener.address],
            in: directory)
        #expect(outcome.status == 1)
        #expect(outcome.errorOutput.contains("--file /tmp is not a regular file"))
        #expect(listener.connections == 0)
        for file in ["missing.bin"] {
            let missing = try await Program.student.run(
                ["--sid", "1155123456", "--file", file, "--ca", listener.address], in: directory)
            #expect(missing.status == 1 && missing.errorOutput.contains("cannot read --file \(file)"))
        }
        _ = FileManager.default.createFile(atPath: SecureFile.join(directory, "empty.txt"), contents: Data())
        let empty = try await Program.student.run(
            ["--sid", "1155123456", "--file", "empty.txt", "--ca", listener.address], in: directory)
        #expect(empty.status == 1 && empty.errorOutput.contains("is empty"))
        let large = try await Program.student.run(
            [
                "--sid", "1155123456", "--message", String(repeating: "x", count: 2000), "--max-message-size", "1024",
                "--ca", listener.address,
            ], in: directory)
        #expect(large.status == 1)
        #expect(large.errorOutput.contains("message 1 is 2,000 bytes; the limit is 1 KiB; use --file"))
        #expect(listener.connections == 0)
    }

    @Test func anEmptyReportOnStandardInputIsNotAReceipt() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let outcome = try await Program.student.run(
            ["--sid", "1155123456"] + servers.studentArguments, in: servers.directory, input: "")
        #expect(outcome.status == 1)
        #expect(outcome.errorOutput.contains("the report is empty, so nothing was uploaded"))
        #expect(!outcome.output.contains("Receipt"))
        let allowed = try await Program.student.run(
            ["--sid", "1155123456", "--allow-empty"] + servers.studentArguments, in: servers.directory, input: "")
        #expect(allowed.status == 0 && allowed.output.contains("Receipt: report 1, 0 messages, 0 bytes"))
    }

    @Test func theInstructorExportsTheExactBytesOfAnUploadedFile() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
        _ = FileManager.default.createFile(
            atPath: SecureFile.join(servers.directory, "report.bin"), contents: Data(bytes))
        let upload = try await Program.student.run(
            ["--sid", "1155123456", "--file", "report.bin", "--max-message-size", "65536"] + servers.studentArguments,
            in: servers.directory)
        #expect(upload.status == 0, "\(upload.all)")
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        #expect(upload.output.contains("Receipt: report 1, 5 messages, 300000 bytes, SHA-256 \(digest)"))

        let export = try await Program.blackboard.run(["export", "1", "--out", "out.bin"], in: servers.directory)
        #expect(export.status == 0, "\(export.all)")
        let exported = try #require(FileManager.default.contents(atPath: SecureFile.join(servers.directory, "out.bin")))
        #expect(SHA256.hash(data: exported).map { String(format: "%02x", $0) }.joined() == digest)
        #expect(SecureFile.mode(of: SecureFile.join(servers.directory, "out.bin")) == 0o600)
        // Never over an existing file.
        let again = try await Program.blackboard.run(["export", "1", "--out", "out.bin"], in: servers.directory)
        #expect(again.status == 1 && again.errorOutput.contains("already exists"))

        let all = try await Program.blackboard.run(["export", "--all", "--out", "exports"], in: servers.directory)
        #expect(all.status == 0)
        #expect(
            FileManager.default.contents(
                atPath: SecureFile.join(servers.directory, "exports/report/1155123456/report-1-report.bin"))
                == exported)

        for (program, arguments) in [
            (Program.cuhk, ["issued", "--json"]), (Program.blackboard, ["reports", "--json"]),
            (Program.blackboard, ["reports", "--latest", "--json"]), (Program.blackboard, ["show", "1", "--json"]),
        ] {
            let listing = try await program.run(arguments, in: servers.directory)
            #expect(listing.status == 0)
            let json = try JSONSerialization.jsonObject(with: Data(listing.output.utf8))
            let first = (json as? [[String: Any]])?.first ?? (json as? [String: Any])
            #expect(first?["sid"] as? String == "1155123456", "\(arguments): \(listing.output)")
        }
        for name in ["blackboard.db", "blackboard.db-wal", "blackboard.db-shm", "cuhk.db", "cuhk.key"] {
            #expect(SecureFile.mode(of: SecureFile.join(servers.directory, name)) == 0o600, "\(name)")
        }
    }

    @Test func aPortInUseNamesTheAddressAndLeavesNoRootBehind() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let other = try temporaryDirectory()
        let outcome = try await Program.cuhk.run(["--port", "\(servers.cuhkAddress.port)"], in: other)
        #expect(outcome.status == 1)
        #expect(
            outcome.errorOutput.contains(
                "cuhk: cannot listen on 127.0.0.1:\(servers.cuhkAddress.port) (address already in use)"))
        #expect(outcome.errorOutput.contains("--port"))
        #expect(!SecureFile.exists(SecureFile.join(other, "cuhk.key")))
        Self.expectPlain(outcome.all)
    }

    @Test func aTruncatedRootSaysWhichFileAndWhatToDo() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let pem = try #require(try SecureFile.readText(at: SecureFile.join(servers.directory, "cuhk.cer")))
        try SecureFile.write(
            String(pem.prefix(300)), to: SecureFile.join(servers.directory, "cut.cer"), mode: 0o644, replacing: false)
        let outcome = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--root-cert", "cut.cer", "--ca", servers.cuhkAddress.description],
            in: servers.directory)
        #expect(outcome.status == 1)
        #expect(outcome.errorOutput.contains("cut.cer is not a valid PEM certificate"))
        Self.expectPlain(outcome.all)

        let cuhkDirectory = try temporaryDirectory()
        #expect(try await Program.cuhk.run(["init"], in: cuhkDirectory).status == 0)
        try SecureFile.write(
            String(pem.prefix(300)), to: SecureFile.join(cuhkDirectory, "cut"), mode: 0o644, replacing: false)
        _ = rename(SecureFile.join(cuhkDirectory, "cut"), SecureFile.join(cuhkDirectory, "cuhk.cer"))
        let cuhk = try await Program.cuhk.run(["--port", "0"], in: cuhkDirectory)
        #expect(cuhk.status == 2)
        #expect(cuhk.errorOutput.contains("cuhk.cer: it is not a valid PEM certificate"))
        Self.expectPlain(cuhk.all)
    }

    @Test func theWrongServerIsNamedAsSuch() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let atBlackboard = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--ca", servers.blackboardAddress.description], in: servers.directory)
        #expect(atBlackboard.status == 6)
        #expect(atBlackboard.errorOutput.contains("is not CUHK"))
        #expect(atBlackboard.errorOutput.contains("it looks like Blackboard"))

        let http = try await CountingListener.start(answer: Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        let atHTTP = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--ca", http.address], in: servers.directory)
        #expect(atHTTP.status == 6)
        #expect(atHTTP.errorOutput.contains("does not speak the CampusPKI protocol"))
        Self.expectPlain(atHTTP.all)
    }

    @Test func trustOnFirstUseIsSaidSavedAndHeldTo() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let home = try temporaryDirectory()
        let first = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--ca", servers.cuhkAddress.description], in: home)
        #expect(first.status == 0, "\(first.all)")
        let root = try #require(try SecureFile.readText(at: SecureFile.join(servers.directory, "cuhk.cer")))
        #expect(try SecureFile.readText(at: SecureFile.join(home, "cuhk.cer")) == root)
        let fingerprint = try Certificate(pemEncoded: root).sha256Fingerprint
        #expect(first.output.contains("Trusting CUHK's root on first use, SHA-256 fingerprint \(fingerprint)"))

        // Another CUHK, with another root of the same name, at the same address the student uses.
        let impostor = try await ServerProcesses.start()
        defer { impostor.stop() }
        let otherRoot = try #require(try SecureFile.readText(at: SecureFile.join(impostor.directory, "cuhk.cer")))
        let second = try await Program.student.run(
            ["enroll", "--sid", "1155123456", "--renew", "--ca", impostor.cuhkAddress.description], in: home)
        #expect(second.status == 6)
        #expect(second.errorOutput.contains(fingerprint))
        #expect(second.errorOutput.contains(try Certificate(pemEncoded: otherRoot).sha256Fingerprint))
    }

    @Test func privateKeysOthersCanReadAreRefusedWithTheFix() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let enroll = ["enroll", "--sid", "1155123456", "--ca", servers.cuhkAddress.description]
        #expect(try await Program.student.run(enroll, in: servers.directory).status == 0)
        let key = SecureFile.join(servers.directory, "1155123456.key")
        #expect(chmod(key, 0o644) == 0)
        let refused = try await Program.student.run(enroll, in: servers.directory)
        #expect(refused.status == 1)
        #expect(refused.errorOutput.contains("chmod 600 ./1155123456.key"))
        let allowed = try await Program.student.run(
            enroll + ["--allow-insecure-key-permissions"], in: servers.directory)
        #expect(allowed.status == 0)

        servers.cuhk.signal(SIGKILL)
        _ = try await servers.cuhk.wait()
        #expect(chmod(SecureFile.join(servers.directory, "cuhk.key"), 0o640) == 0)
        let cuhk = try await Program.cuhk.run(["--port", "0"], in: servers.directory)
        #expect(cuhk.status == 2 && cuhk.errorOutput.contains("chmod 600 ./cuhk.key"))
    }

    @Test func helpAndSmallWords() async throws {
        let directory = try temporaryDirectory()
        for program in [Program.cuhk, Program.blackboard, Program.student] {
            let version = try await program.run(["--version"], in: directory)
            #expect(version.status == 0 && version.output == "1.1.0\n")
        }
        let mistyped = try await Program.cuhk.run(["isued"], in: directory)
        #expect(mistyped.status == 64 && mistyped.errorOutput.contains("Did you mean 'issued'?"))
        let badSID = try await Program.cuhk.run(["issued", "--sid", "123"], in: directory)
        #expect(badSID.status == 64)
        #expect(badSID.errorOutput.contains(StudentID.requirement))
        #expect(badSID.errorOutput.contains("Usage: cuhk issued"))
        let port = try await Program.blackboard.run(["--port", "70000"], in: directory)
        #expect(port.status == 64 && port.errorOutput.contains("out of range"))
        let help = try await Program.student.run(["--help"], in: directory)
        #expect(help.output.contains("\n  5   network failure"))
        let runHelp = try await Program.student.run(["run", "--help"], in: directory)
        #expect(runHelp.output.contains("(not both)"))
        let logHelp = try await Program.cuhk.run(["serve", "--help"], in: directory)
        #expect(logHelp.output.components(separatedBy: "critical").count == 2, "the levels are listed once")
    }

    /// `--ocsp-timeout` is bounded, and the handshake's allowance must outlast it (the wait counts as silence).
    @Test func theOCSPTimeoutIsBoundedAndShorterThanTheHandshakeTimeout() async throws {
        let directory = try temporaryDirectory()
        let tooLong = try await Program.blackboard.run(["--port", "0", "--ocsp-timeout", "11"], in: directory)
        #expect(tooLong.status == 64 && tooLong.errorOutput.contains("--ocsp-timeout must be from 1 to 10 s"))
        let none = try await Program.blackboard.run(["--port", "0", "--ocsp-timeout", "0"], in: directory)
        #expect(none.status == 64 && none.errorOutput.contains("--ocsp-timeout must be from 1 to 10 s"))
        let equal = try await Program.blackboard.run(
            ["--port", "0", "--ocsp-timeout", "8", "--handshake-timeout", "8"], in: directory)
        #expect(equal.status == 64)
        #expect(equal.errorOutput.contains("--handshake-timeout must be more than --ocsp-timeout (8 s)"))
        let byDefault = try await Program.blackboard.run(["--port", "0", "--handshake-timeout", "5"], in: directory)
        #expect(byDefault.errorOutput.contains("--handshake-timeout must be more than --ocsp-timeout (5 s)"))
        let help = try await Program.blackboard.run(["serve", "--help"], in: directory)
        #expect(help.output.contains("--ocsp-timeout"))
    }
}

/// A port nothing listens on.
enum ClosedPort {
    static func find() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 1
        try await channel.close()
        return port
    }
}

/// Answers the first bytes it receives with fixed bytes, and closes a while later.
final class AnswerOnFirstRead: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let answer: [UInt8]
    private var answered = false

    init(answer: [UInt8]) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: answer)), promise: nil)
        // Closing at once with the client's bytes unread would reset the connection before it reads the answer.
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }
}

/// A TCP listener that counts connections and answers each with fixed bytes.
final class CountingListener: Sendable {
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private let channel: any Channel
    private let counter: Counter

    private init(channel: any Channel, counter: Counter) {
        self.channel = channel
        self.counter = counter
    }

    var address: String { "127.0.0.1:\(channel.localAddress?.port ?? 0)" }
    var connections: Int { counter.value.load(ordering: .relaxed) }

    static func start(answer: [UInt8] = []) async throws -> CountingListener {
        let counter = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                counter.value.add(1, ordering: .relaxed)
                guard !answer.isEmpty else { return child.eventLoop.makeSucceededVoidFuture() }
                // Like an HTTP server: the answer comes once the client has sent something.
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(AnswerOnFirstRead(answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CountingListener(channel: channel, counter: counter)
    }

    deinit { channel.close(promise: nil) }
}
