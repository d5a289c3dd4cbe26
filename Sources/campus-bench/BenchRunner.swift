import CampusPKI
import CampusStudent
import Crypto
import Foundation
import NIOCore
import Synchronization
import X509
import _CryptoExtras

/// Starts the release servers in a temporary directory and runs each workload against them.
final class BenchRunner: @unchecked Sendable {
    let settings: Settings
    let cores: Int
    let directory: String
    let executables: String
    let progress: (String) -> Void
    private var children: [ChildServer] = []
    /// HAProxy, in front of several instances.
    var loadBalancer: LoadBalancer?
    /// RSA key generation is not what most figures measure: a small pool serves every simulated student.
    let keys: [_RSA.Signing.PrivateKey]

    /// - Parameter executables: The directory of the `cuhk` and `blackboard` to run as they are; `nil` builds the
    ///   release ones of this package first.
    init(settings: Settings, cores: Int, executables: String? = nil, progress: @escaping (String) -> Void) throws {
        self.settings = settings
        self.cores = cores
        self.progress = progress
        self.executables = try executables ?? ChildServer.releaseExecutables()
        var template = Array((NSTemporaryDirectory() + "campus-bench-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("cannot create a temporary directory") }
        directory = String(cString: made)
        keys = try (0..<4).map { _ in try _RSA.Signing.PrivateKey(keySize: .bits2048) }
    }

    /// Starts a server; under the profiler's wrapper when `profiled` and the profiler wants that server.
    func start(_ name: String, _ arguments: [String], profiled: Bool = true) throws -> ChildServer {
        var (executable, wrapper) = (SecureFile.join(executables, name), [String]())
        if profiled, let profile = settings.profile {
            (executable, wrapper) = try profile.launch(name, executable: executable)
        }
        // Several servers of one name (instances, the memory figure's Blackboard) each keep their own output.
        let child = try ChildServer(
            executable, arguments: arguments, directory: directory, wrapper: wrapper,
            outputName: "\(name)-\(children.count + 1)", environment: settings.deployment.serverEnvironment)
        children.append(child)
        return child
    }

    /// Runs one measured section, profiled when `--profile` asks for it.
    func section<T>(_ name: String, on server: ChildServer, _ body: () async throws -> T) async throws -> T {
        let session = try await settings.profile?.begin(name, on: server)
        let result = try await body()
        try await settings.profile?.end(session)
        return result
    }

    func stop() {
        loadBalancer?.stop()
        loadBalancer = nil
        for child in children { child.stop() }
        children.removeAll()
        // The servers' keys, databases and output, and the students' keys: nothing of a run stays behind.
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// This process's CPU so far, in seconds: the benchmark's clients, which share the machine's cores with the
    /// server under test.
    var ownCPUSeconds: Double { ChildServer.cpuSeconds(of: getpid()) }

    /// Where CUHK keeps its root and writes Blackboard's certificate.
    var cuhkDirectory: String { SecureFile.join(directory, "cuhk") }

    /// The CUHK root, which every Student checks Blackboard's certificate against.
    var root: Certificate {
        get throws {
            try Certificate(pemEncoded: try SecureFile.readText(at: SecureFile.join(cuhkDirectory, "cuhk.cer"))!)
        }
    }

    /// `blackboard` in its own directory, trusting CUHK's root, with the certificate CUHK issued beside it.
    func startBlackboard(_ name: String, _ extra: [String] = [], profiled: Bool = true) throws -> ChildServer {
        try start(
            "blackboard",
            [
                "--dir", SecureFile.join(directory, name), "--root-cert", SecureFile.join(cuhkDirectory, "cuhk.cer"),
                "--certificate", SecureFile.join(cuhkDirectory, "blackboard.cer"),
                "--key", SecureFile.join(cuhkDirectory, "blackboard.key"),
                // A few students make every session here: the limits per student must not refuse them.
                "--max-reports-per-assignment", "1000000", "--max-report-size", "\(Int64(1) << 40)",
                "--max-student-storage", "\(Int64(1) << 40)",
                // Every client here connects from one address; the limit is out of reach, and still counted.
                "--max-handshakes-per-address", Self.perAddressLimit,
            ] + extra, profiled: profiled)
    }

    /// The limit per address given to the servers: the benchmark's clients all share one address, which a
    /// deployment's students would not.
    static let perAddressLimit = "1000000"

    /// The groups of figures, in the order they run.
    enum Group: String, CaseIterable, Sendable {
        case issuing
        case handshake
        case upload
        case endToEnd = "end-to-end"
        case memory
    }

    func runAll() async throws -> [Figure] {
        if settings.scenario == .deadlineRush { return try await deadlineRush() }
        let groups = settings.groups
        // Every group but issuing needs students, whom CUHK enrolls; all but memory use the first Blackboard.
        let cuhk = try startCUHK()
        let blackboard = groups.subtracting([.issuing, .memory]).isEmpty ? nil : try startBlackboard("blackboard")
        let peers =
            settings.peers && !groups.isDisjoint(with: [.issuing, .handshake])
            ? try await PeerBench.prepare(in: SecureFile.join(directory, "peers"), report: { Terminal.error($0) })
            : nil
        var figures: [Figure] = []
        if groups.contains(.issuing) {
            progress("issuing…")
            figures += try await issuing(cuhk: cuhk)
            if let peers {
                progress("issuing: cfssl…")
                figures += try await issuingPeers(peers, against: figures)
            }
        }
        if let blackboard, groups.contains(.handshake) {
            progress("handshakes…")
            figures += try await handshakes(cuhk: cuhk, blackboard: blackboard)
            if let peers {
                progress("handshakes: Go crypto/tls, OpenSSL…")
                figures += try await handshakePeers(peers, against: figures)
            }
        }
        if let blackboard, groups.contains(.upload) {
            progress("uploads…")
            figures += try await uploads(cuhk: cuhk, blackboard: blackboard)
        }
        if let blackboard, groups.contains(.endToEnd) {
            progress("end to end…")
            figures += try await endToEnd(cuhk: cuhk, blackboard: blackboard)
        }
        if groups.contains(.memory) {
            progress("memory…")
            figures += try await memory(cuhk: cuhk)
        }
        return figures
    }

    // MARK: Issuing

    func studentID(_ index: Int, base: Int) -> StudentID {
        StudentID(String(base + index))!
    }

    func issuing(cuhk: ChildServer) async throws -> [Figure] {
        let count = settings.issue
        let requests = try (0..<count).map { index in
            try CertificateRequestBuilder.makeRequest(
                for: studentID(index, base: 1_000_000_000), key: keys[index % keys.count])
        }
        let address = cuhk.address
        let (samples, elapsed, cpu, clientCPU) = try await section("issuing", on: cuhk) {
            let cpuBefore = cuhk.cpuSeconds
            let clientBefore = ownCPUSeconds
            let start = now()
            let samples = try await runConcurrently(count) { index in
                // The whole enrollment channel: hello, CUHK's signed offer, the sealed CSR, the sealed certificate.
                try await FramedClient.withConnection(to: address) { frames in
                    var machine = StudentEnrollment(
                        request: .enrollment(csrPEM: requests[index], code: nil), trust: .firstUse)
                    var output = machine.start()
                    while output.certificatePEM == nil {
                        try await frames.writer.send(contentsOf: output.messages)
                        do {
                            output = try await machine.receive(try await frames.receivePayload())
                        } catch {
                            throw BenchError("CUHK did not issue: \(error)")
                        }
                    }
                }
            }
            return (samples, now() - start, cuhk.cpuSeconds - cpuBefore, ownCPUSeconds - clientBefore)
        }
        let cpuPerCertificate = cpu / Double(count)
        let clientCPUPerCertificate = clientCPU / Double(count)
        let signingRate = try CryptoLimits.signingRate(key: keys[0], seconds: settings.limitSeconds)
        let limit = signingRate * Double(cores)
        let floor = try CryptoLimits.issuingFloor(
            csrPEM: requests[0], signingKey: keys[1], seconds: settings.limitSeconds)
        return [
            Figure(
                "issuing", "certificates/s (\(settings.concurrency) clients, \(count) requests)",
                Double(count) / elapsed, "1/s", limit: limit, target: "≥ 0.8", key: "issuing.rate"),
            Figure("issuing", "latency p50", samples.percentile(0.5) * 1000, "ms", key: "issuing.p50"),
            Figure("issuing", "latency p99", samples.percentile(0.99) * 1000, "ms", key: "issuing.p99"),
            Figure(
                "issuing", "CUHK CPU per certificate", cpuPerCertificate * 1e6, "µs", limit: 1e6 / signingRate,
                target: "≤ 1.3", key: "issuing.cpu"),
            Figure(
                "issuing", "one signature (RSA-2048, one thread)", 1e6 / signingRate, "µs", key: "issuing.signature"),
            Figure("issuing", "crypto floor, issuing", floor * 1e6, "µs", key: "issuing.floor"),
            Figure(
                "issuing", "CUHK CPU against the issuing floor", cpuPerCertificate * 1e6, "µs", limit: floor * 1e6,
                key: "issuing.cpu-floor"),
            Figure(
                "issuing", "clients' CPU per certificate", clientCPUPerCertificate * 1e6, "µs",
                key: "issuing.client-cpu"),
            // What the cores could do if CUHK spent only the floor and its clients what they spent here.
            Figure(
                "issuing", "ceiling: CUHK at the floor, these clients",
                Double(cores) / (floor + clientCPUPerCertificate), "1/s", limit: limit, key: "issuing.ceiling"),
        ]
    }

    /// cfssl, right after CUHK's run: the same number of requests from as many clients.
    func issuingPeers(_ peers: PeerBench, against figures: [Figure]) async throws -> [Figure] {
        let rate = figures.first { $0.key == "issuing.rate" }?.value ?? .nan
        let cpu = figures.first { $0.key == "issuing.cpu" }?.value ?? .nan
        var peerFigures: [Figure] = []
        for database in [false, true] {
            guard
                let run = try await peers.cfssl(
                    requests: settings.issue, concurrency: settings.concurrency, database: database)
            else { continue }
            let (label, key) = database ? ("cfssl + SQLite", "cfssl-sqlite") : ("cfssl serve", "cfssl")
            peerFigures += [
                Figure(
                    "issuing", "\(label) certificates/s (\(settings.concurrency) clients)", run.rate, "1/s",
                    key: "peer.\(key).rate"),
                Figure(
                    "issuing", "\(label) CPU per certificate", run.cpuPerOperation * 1e6, "µs", key: "peer.\(key).cpu"),
                Figure(
                    "issuing", "certificates/s against \(label)", rate, "1/s", limit: run.rate,
                    target: database ? nil : "≥ 2.5", key: "issuing.vs-\(key)"),
                Figure(
                    "issuing", "CUHK CPU against \(label)", cpu, "µs", limit: run.cpuPerOperation * 1e6,
                    key: "issuing.cpu-vs-\(key)"),
            ]
        }
        return peerFigures
    }

    /// Runs `operation` for indexes 0..<count from `settings.concurrency` workers; returns the latencies.
    func runConcurrently(_ count: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async throws
        -> Samples
    {
        let work = WorkQueue()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<settings.concurrency {
                group.addTask {
                    while true {
                        let index = work.take()
                        guard index < count else { return }
                        let began = now()
                        try await operation(index)
                        work.record(now() - began)
                    }
                }
            }
            try await group.waitForAll()
        }
        return work.samples
    }

    // MARK: Handshakes

    /// Enrolls `count` students (keys from the pool) and returns their credentials.
    func enroll(_ count: Int, base: Int, cuhk: ServerAddress) async throws -> [StudentCredentials] {
        try await withThrowingTaskGroup(of: StudentCredentials.self) { group in
            var enrolled: [StudentCredentials] = []
            for index in 0..<count {
                let studentID = studentID(index, base: base)
                let studentDirectory = SecureFile.join(directory, "students/\(studentID)")
                try SecureFile.createDirectory(studentDirectory)
                try SecureFile.write(
                    keys[index % keys.count].pemRepresentation,
                    to: StudentCredentials.keyPath(for: studentID, in: studentDirectory),
                    mode: SecureFile.privateMode,
                    replacing: true
                )
                let client = EnrollmentClient(
                    configuration: .init(directory: studentDirectory, certificateAuthority: cuhk))
                group.addTask { try await client.enroll(studentID).0 }
                // At most 2 × concurrency enrollments in flight.
                if index >= 2 * settings.concurrency, let done = try await group.next() { enrolled.append(done) }
            }
            return try await group.reduce(into: enrolled) { $0.append($1) }
        }
    }

    func handshakes(cuhk: ChildServer, blackboard: ChildServer) async throws -> [Figure] {
        let credentials = try await enroll(8, base: 1_100_000_000, cuhk: cuhk.address)
        let root = try root
        let client = UploadClient(configuration: .init(blackboard: blackboard.address, root: root))
        let count = settings.handshakes
        // Warm up the server (first connections pay for lazy initialisation).
        for credential in credentials.prefix(2) {
            try await FramedClient.withConnection(to: blackboard.address) { frames in
                _ = try await client.handshake(on: frames, credentials: credential)
            }
        }
        let (samples, elapsed, cpu, clientCPU) = try await section("handshake", on: blackboard) {
            let cpuBefore = blackboard.cpuSeconds
            let clientBefore = ownCPUSeconds
            let start = now()
            let samples = try await runConcurrently(count) { index in
                try await FramedClient.withConnection(to: blackboard.address) { frames in
                    _ = try await client.handshake(on: frames, credentials: credentials[index % credentials.count])
                }
            }
            let elapsed = now() - start
            let clientCPU = ownCPUSeconds - clientBefore
            // Sessions that end right after the handshake are closed by the server asynchronously; let them finish.
            try await Task.sleep(for: .milliseconds(300))
            return (samples, elapsed, blackboard.cpuSeconds - cpuBefore, clientCPU)
        }
        let cpuPerHandshake = cpu / Double(count)
        let floor = try CryptoLimits.handshakeFloor(
            certificate: credentials[0].certificate,
            root: root,
            seconds: settings.limitSeconds
        )
        let versionOneFloor = try CryptoLimits.versionOneHandshakeFloor(
            certificate: credentials[0].certificate, root: root, seconds: settings.limitSeconds)
        return [
            Figure(
                "handshake", "handshakes/s (\(settings.concurrency) clients)", Double(count) / elapsed, "1/s",
                key: "handshake.rate"),
            Figure("handshake", "latency p50", samples.percentile(0.5) * 1000, "ms", key: "handshake.p50"),
            Figure("handshake", "latency p99", samples.percentile(0.99) * 1000, "ms", key: "handshake.p99"),
            Figure(
                "handshake", "Blackboard CPU per handshake", cpuPerHandshake * 1e6, "µs", limit: floor * 1e6,
                target: "≤ 2", key: "handshake.cpu"),
            Figure("handshake", "crypto floor, version 2", floor * 1e6, "µs", key: "handshake.floor"),
            Figure("handshake", "crypto floor, version 1", versionOneFloor * 1e6, "µs", key: "handshake.floor-v1"),
            Figure(
                "handshake", "clients' CPU per handshake", clientCPU / Double(count) * 1e6, "µs",
                key: "handshake.client-cpu"),
        ]
    }

    /// The Go crypto/tls and OpenSSL servers, right after Blackboard's run: as many full TLS 1.3 mTLS handshakes
    /// (OpenSSL: for about as long) from as many clients.
    func handshakePeers(_ peers: PeerBench, against figures: [Figure]) async throws -> [Figure] {
        let cpu = figures.first { $0.key == "handshake.cpu" }?.value ?? .nan
        let rate = figures.first { $0.key == "handshake.rate" }?.value ?? .nan
        var runs: [(label: String, key: String, run: PeerBench.Run)] = [
            (
                "Go crypto/tls", "go",
                try await peers.goTLS(handshakes: settings.handshakes, concurrency: settings.concurrency)
            )
        ]
        // `openssl s_time` runs for whole seconds: as long as Blackboard's run took, at least 2.
        let seconds = rate.isFinite ? Int((Double(settings.handshakes) / rate).rounded(.up)) : 0
        if let run = try await peers.openSSL(seconds: max(2, seconds), clients: settings.concurrency) {
            runs.append(("OpenSSL s_server", "openssl", run))
        }
        return runs.flatMap { label, key, run in
            [
                Figure(
                    "handshake", "\(label) handshakes/s (\(settings.concurrency) clients)", run.rate, "1/s",
                    key: "peer.\(key).rate"),
                Figure(
                    "handshake", "\(label) CPU per handshake", run.cpuPerOperation * 1e6, "µs",
                    key: "peer.\(key).cpu"),
                Figure(
                    "handshake", "Blackboard CPU against \(label)", cpu, "µs", limit: run.cpuPerOperation * 1e6,
                    target: "≤ 1", key: "handshake.vs-\(key)"),
            ]
        }
    }

    // MARK: Uploads

    func uploads(cuhk: ChildServer, blackboard: ChildServer) async throws -> [Figure] {
        let credential = try await enroll(1, base: 1_200_000_000, cuhk: cuhk.address)[0]
        let client = UploadClient(
            configuration: .init(blackboard: blackboard.address, root: try root, window: settings.uploadWindow))
        var figures: [Figure] = []
        for size in settings.uploadSizes {
            let count = max(4, min(20_000, Int(settings.uploadMiB * 1024 * 1024) / size))
            let content = [UInt8](repeating: 0x61, count: size)
            let (elapsed, cpu, clientCPU) = try await section("upload-\(size)", on: blackboard) {
                try await FramedClient.withConnection(to: blackboard.address) { frames in
                    let session = try await client.handshake(on: frames, credentials: credential)
                    let cpuBefore = blackboard.cpuSeconds
                    let clientBefore = ownCPUSeconds
                    let start = now()
                    _ = try await client.send(
                        repeatElement(content, count: count), on: frames, session: session, credentials: credential)
                    return (now() - start, blackboard.cpuSeconds - cpuBefore, ownCPUSeconds - clientBefore)
                }
            }
            let rate = Double(count) / elapsed
            let limit = CryptoLimits.aeadRate(size: size, seconds: settings.limitSeconds)
            let label =
                size >= 1024 * 1024 && size % (1024 * 1024) == 0
                ? "\(size / 1024 / 1024) MiB" : size >= 1024 && size % 1024 == 0 ? "\(size / 1024) KiB" : "\(size) B"
            let target: String? =
                switch size {
                case 64 * 1024: "≥ 0.6"
                case 64, 4 * 1024: "≥ 0.3"
                default: nil
                }
            figures.append(
                Figure(
                    "upload", "\(label) messages/s (\(count) messages)", rate, "1/s", limit: limit, target: target,
                    key: "upload.\(size).rate"))
            figures.append(
                Figure(
                    "upload", "\(label) content throughput", rate * Double(size) / 1e6, "MB/s",
                    key: "upload.\(size).throughput"))
            figures.append(
                Figure(
                    "upload", "\(label): Blackboard CPU per message", cpu / Double(count) * 1e6, "µs",
                    key: "upload.\(size).cpu"))
            figures.append(
                Figure(
                    "upload", "\(label): client's CPU per message",
                    clientCPU / Double(count) * 1e6, "µs", key: "upload.\(size).client-cpu"))
            figures.append(
                Figure(
                    "upload", "\(label): SHA-256 of one message, one side",
                    1e6 / CryptoLimits.digestRate(size: size, seconds: settings.limitSeconds), "µs",
                    key: "upload.\(size).digest"))
            if size == 64 * 1024 {
                // Version 1 authenticated each message with HMAC-SHA256 and sent it in the clear.
                figures.append(
                    Figure(
                        "upload", "64 KiB HMAC limit (version 1)",
                        CryptoLimits.hmacRate(size: size, seconds: settings.limitSeconds), "1/s",
                        key: "upload.hmac-v1"))
            }
        }
        return figures
    }

    // MARK: End to end

    func endToEnd(cuhk: ChildServer, blackboard: ChildServer) async throws -> [Figure] {
        let messages = ReportSource.seedMessages
        var withKeys = Samples()
        var withoutKeys = Samples()
        for run in 0..<settings.endToEnd {
            for generateKey in [true, false] {
                let studentID = studentID(run * 2 + (generateKey ? 0 : 1), base: 1_300_000_000)
                let studentDirectory = SecureFile.join(directory, "e2e/\(studentID)")
                try SecureFile.createDirectory(studentDirectory)
                if !generateKey {
                    try SecureFile.write(
                        keys[run % keys.count].pemRepresentation,
                        to: StudentCredentials.keyPath(for: studentID, in: studentDirectory),
                        mode: SecureFile.privateMode,
                        replacing: false
                    )
                }
                let start = now()
                let (credentials, _) = try await EnrollmentClient(
                    configuration: .init(directory: studentDirectory, certificateAuthority: cuhk.address)
                ).enroll(studentID)
                _ = try await UploadClient(configuration: .init(blackboard: blackboard.address, root: try root)).upload(
                    try ReportSource.messages(messages).contents(),
                    as: credentials
                )
                let elapsed = (now() - start) * 1000
                if generateKey { withKeys.add(elapsed) } else { withoutKeys.add(elapsed) }
            }
        }
        return [
            Figure("end to end", "with key generation p50", withKeys.percentile(0.5), "ms", key: "end-to-end.keys.p50"),
            Figure(
                "end to end", "with key generation p99", withKeys.percentile(0.99), "ms", key: "end-to-end.keys.p99"),
            Figure(
                "end to end", "without key generation p50", withoutKeys.percentile(0.5), "ms", target: "≤ 10 ms",
                key: "end-to-end.p50"),
            Figure(
                "end to end", "without key generation p99", withoutKeys.percentile(0.99), "ms", key: "end-to-end.p99"),
        ]
    }

    // MARK: Memory

    /// A fresh Blackboard: resident memory with no sessions, then with K idle established sessions.
    func memory(cuhk: ChildServer) async throws -> [Figure] {
        let blackboard = try startBlackboard(
            "blackboard-memory", ["--idle-timeout", "600", "--handshake-timeout", "600"], profiled: false)
        defer { blackboard.stop() }
        // One student per session, as in a course (and one student may hold only a few sessions at once).
        let sessions = max(2, settings.idle)
        let credentials = try await enroll(sessions, base: 1_400_000_000, cuhk: cuhk.address)
        // Idle sessions end with an empty report.
        let client = UploadClient(
            configuration: .init(blackboard: blackboard.address, root: try root, allowsEmptyReport: true))
        // One complete session first, so the baseline includes what every process pays once.
        _ = try await client.upload([[1]], as: credentials[0])
        try await Task.sleep(for: .milliseconds(200))
        let baseline = blackboard.residentBytes

        let established = WorkQueue()
        // A session that fails ends the run with its error, rather than leaving it waiting for the session.
        let failure = FirstFailure()
        func waitUntilEstablished(_ count: Int, every interval: Duration) async throws {
            while established.taken < count {
                if let error = failure.error { throw error }
                try await Task.sleep(for: interval)
            }
        }
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        // The sessions open in two halves. What the first half brings once (Blackboard's connections to CUHK's OCSP
        // responder, up to 64 at once, and the growth of its tables) is not a cost of each session: the figure is
        // what the second half added, per session.
        let (half, measured) = try await withThrowingTaskGroup(of: Void.self) { group in
            func open(_ indexes: Range<Int>) async throws {
                for index in indexes {
                    group.addTask {
                        do {
                            try await FramedClient.withConnection(to: blackboard.address, timeout: .seconds(600)) {
                                frames in
                                let credential = credentials[index]
                                let session = try await client.handshake(on: frames, credentials: credential)
                                _ = established.take()
                                for await _ in release { break }
                                _ = try await client.send(
                                    [[UInt8]](), on: frames, session: session, credentials: credential)
                            }
                        } catch {
                            failure.record(error)
                            throw error
                        }
                    }
                    if index % 64 == 63 { try await waitUntilEstablished(index - 32, every: .milliseconds(5)) }
                }
                try await waitUntilEstablished(indexes.upperBound, every: .milliseconds(20))
                try await Task.sleep(for: .milliseconds(500))
            }
            try await open(0..<sessions / 2)
            let half = blackboard.residentBytes
            try await open(sessions / 2..<sessions)
            let measured = blackboard.residentBytes
            releaseContinuation.finish()
            try await group.waitForAll()
            return (half, measured)
        }
        let perSession = Double(measured - half) / Double(sessions - sessions / 2)
        return [
            Figure(
                "memory", "Blackboard resident, no sessions", Double(baseline) / 1_048_576, "MiB", key: "memory.base"),
            Figure(
                "memory", "Blackboard resident, \(sessions / 2) idle sessions", Double(half) / 1_048_576, "MiB",
                key: "memory.half"),
            Figure(
                "memory", "Blackboard resident, \(sessions) idle sessions", Double(measured) / 1_048_576, "MiB",
                key: "memory.sessions"),
            Figure(
                "memory", "per idle session (the second \(sessions - sessions / 2))", perSession / 1024, "KiB",
                target: "≤ 16 KiB", key: "memory.per-session"),
            Figure(
                "memory", "per idle session, first costs included",
                Double(measured - baseline) / Double(sessions) / 1024,
                "KiB", key: "memory.per-session-all"),
        ]
    }
}

/// The first error of concurrent tasks, for a loop that waits on them to throw.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) { first.withLock { $0 = $0 ?? error } }

    var error: (any Error)? { first.withLock { $0 } }
}

/// Hands out indexes to concurrent workers and collects their latencies.
final class WorkQueue: Sendable {
    private let next = Atomic<Int>(0)
    private let latencies = Mutex(Samples())

    /// The next index; every call gets a different one.
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }

    /// How many indexes were handed out.
    var taken: Int { next.load(ordering: .relaxed) }

    func record(_ latency: Double) { latencies.withLock { $0.add(latency) } }

    var samples: Samples { latencies.withLock { $0 } }
}
