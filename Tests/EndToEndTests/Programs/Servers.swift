import CampusAuthority
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import X509
import _CryptoExtras

/// `cuhk` and `blackboard` running as processes in one directory, the seed's way, on free ports.
struct ServerProcesses {
    let directory: String
    let cuhk: Running
    let blackboard: Running
    let cuhkAddress: ServerAddress
    let blackboardAddress: ServerAddress

    /// Starts both; Blackboard trusts the `cuhk.cer` that CUHK writes in the same directory.
    static func start(
        in directory: String? = nil, cuhkArguments: [String] = [], blackboardArguments: [String] = []
    ) async throws -> ServerProcesses {
        let directory = try directory ?? temporaryDirectory()
        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--port", "0", "--ocsp-port", "0", "--open-enrollment"] + cuhkArguments,
            in: directory)
        let cuhkAddress = try await cuhk.address()
        let blackboard = try Program.blackboard.start(
            Program.patientBlackboard + ["--port", "0"] + blackboardArguments, in: directory)
        let blackboardAddress = try await blackboard.address()
        return ServerProcesses(
            directory: directory, cuhk: cuhk, blackboard: blackboard, cuhkAddress: cuhkAddress,
            blackboardAddress: blackboardAddress)
    }

    /// Arguments that point a `student` at these servers.
    var studentArguments: [String] {
        ["--ca", cuhkAddress.description, "--blackboard", blackboardAddress.description]
    }

    func stop() {
        cuhk.signal(SIGKILL)
        blackboard.signal(SIGKILL)
    }

    /// Enrolls in-process (with a premade key: RSA key generation is not what these tests are about).
    func enroll(_ studentID: StudentID, key: _RSA.Signing.PrivateKey = TestKeys.pool[0]) async throws
        -> StudentCredentials
    {
        try await EnrollmentClient.premade(
            for: studentID, key: key, under: directory, certificateAuthority: cuhkAddress,
            rootCertificatePath: SecureFile.join(directory, "cuhk.cer")
        ).enroll(studentID).0
    }

    /// The CUHK root in the shared directory.
    var root: Certificate {
        get throws {
            try Certificate(pemEncoded: try SecureFile.readText(at: SecureFile.join(directory, "cuhk.cer")) ?? "")
        }
    }

    /// An upload client for these servers.
    func uploader(keepAliveInterval: Duration = .seconds(KeepAlive.intervalSeconds), observer: SessionObserver? = nil)
        throws -> UploadClient
    {
        UploadClient(
            configuration: .init(blackboard: blackboardAddress, root: try root, keepAliveInterval: keepAliveInterval),
            observer: observer ?? SessionObserver(side: .student))
    }
}

/// Counts what a reporter is told.
final class LineCounter: Sendable {
    private let lines = Mutex<[String]>([])

    var reporter: StepReporter { { _, line in self.lines.withLock { $0.append(line) } } }

    func count(where predicate: (String) -> Bool) -> Int { lines.withLock { $0.filter(predicate).count } }
}

/// A feed that never has a message: a student who says nothing after the handshake.
struct SilentFeed: MessageFeed {
    func next(waitingAtMost: Duration) async throws -> FeedItem {
        try await Task.sleep(for: waitingAtMost)
        return .idle
    }
}

/// Raw TCP connections that say nothing.
enum IdleConnections {
    static func open(_ count: Int, to address: ServerAddress) async throws -> [any Channel] {
        var channels: [any Channel] = []
        for _ in 0..<count {
            channels.append(
                try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: address.host, port: address.port).get())
        }
        return channels
    }
}

/// User plus system CPU seconds a process has used.
func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return .nan }
    let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
