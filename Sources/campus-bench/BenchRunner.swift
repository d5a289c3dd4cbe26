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
    /// RSA key generation is not what most figures measure: a small pool serves every simulated student.
    let keys: [_RSA.Signing.PrivateKey]

    init(settings: Settings, cores: Int, progress: @escaping (String) -> Void) throws {
        self.settings = settings
        self.cores = cores
        self.progress = progress
        executables = try ChildServer.releaseExecutables()
        var template = Array((NSTemporaryDirectory() + "campus-bench-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("cannot create a temporary directory") }
        directory = String(cString: made)
        keys = try (0..<4).map { _ in try _RSA.Signing.PrivateKey(keySize: .bits2048) }
    }

    func start(_ name: String, _ arguments: [String]) throws -> ChildServer {
        let child = try ChildServer(SecureFile.join(executables, name), arguments: arguments, directory: directory)
        children.append(child)
        return child
    }

    func stop() {
        for child in children { child.stop() }
        children.removeAll()
    }

    /// Where CUHK keeps its root and writes Blackboard's certificate.
    var cuhkDirectory: String { SecureFile.join(directory, "cuhk") }

    /// The CUHK root, which every Student checks Blackboard's certificate against.
    var root: Certificate {
        get throws {
            try Certificate(pemEncoded: try SecureFile.readText(at: SecureFile.join(cuhkDirectory, "cuhk.cer"))!)
        }
    }

    /// `blackboard` in its own directory, trusting CUHK's root, with the certificate CUHK issued beside it.
    func startBlackboard(_ name: String, _ extra: [String] = []) throws -> ChildServer {
        try start(
            "blackboard",
            [
                "--dir", SecureFile.join(directory, name), "--root-cert", SecureFile.join(cuhkDirectory, "cuhk.cer"),
                "--certificate", SecureFile.join(cuhkDirectory, "blackboard.cer"),
                "--key", SecureFile.join(cuhkDirectory, "blackboard.key"),
                // A few students make every session here: the limits per student must not refuse them.
                "--max-reports-per-assignment", "1000000", "--max-report-size", "\(Int64(1) << 40)",
                "--max-student-storage", "\(Int64(1) << 40)",
            ] + extra)
    }

    func runAll() async throws -> [Figure] {
        let cuhk = try start("cuhk", ["--dir", cuhkDirectory, "--open-enrollment", "--ocsp-port", "0"])
        let blackboard = try startBlackboard("blackboard")
        var figures: [Figure] = []
        progress("issuing…")
        figures += try await issuing(cuhk: cuhk)
        progress("handshakes…")
        figures += try await handshakes(cuhk: cuhk, blackboard: blackboard)
        progress("uploads…")
        figures += try await uploads(cuhk: cuhk, blackboard: blackboard)
        progress("end to end…")
        figures += try await endToEnd(cuhk: cuhk, blackboard: blackboard)
        progress("memory…")
        figures += try await memory(cuhk: cuhk)
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
        let cpuBefore = cuhk.cpuSeconds
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
        let elapsed = now() - start
        let cpuPerCertificate = (cuhk.cpuSeconds - cpuBefore) / Double(count)
        let signingRate = try CryptoLimits.signingRate(key: keys[0], seconds: settings.limitSeconds)
        let limit = signingRate * Double(cores)
        return [
            Figure(
                "issuing", "certificates/s (\(settings.concurrency) clients, \(count) requests)",
                Double(count) / elapsed, "1/s", limit: limit, target: "≥ 0.8"),
            Figure("issuing", "latency p50", samples.percentile(0.5) * 1000, "ms"),
            Figure("issuing", "latency p99", samples.percentile(0.99) * 1000, "ms"),
            // Not a target: how much of CUHK's own CPU goes to the one signature each certificate needs.
            Figure("issuing", "CUHK CPU per certificate", cpuPerCertificate * 1e6, "µs", limit: 1e6 / signingRate),
        ]
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
    func enroll(_ count: Int, base: Int, cuhk: ChildServer) async throws -> [StudentCredentials] {
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
                    configuration: .init(directory: studentDirectory, certificateAuthority: cuhk.address))
                group.addTask { try await client.enroll(studentID).0 }
                // At most 2 × concurrency enrollments in flight.
                if index >= 2 * settings.concurrency, let done = try await group.next() { enrolled.append(done) }
            }
            return try await group.reduce(into: enrolled) { $0.append($1) }
        }
    }

    func handshakes(cuhk: ChildServer, blackboard: ChildServer) async throws -> [Figure] {
        let credentials = try await enroll(8, base: 1_100_000_000, cuhk: cuhk)
        let root = try root
        let client = UploadClient(configuration: .init(blackboard: blackboard.address, root: root))
        let count = settings.handshakes
        // Warm up the server (first connections pay for lazy initialisation).
        for credential in credentials.prefix(2) {
            try await FramedClient.withConnection(to: blackboard.address) { frames in
                _ = try await client.handshake(on: frames, credentials: credential)
            }
        }
        let cpuBefore = blackboard.cpuSeconds
        let start = now()
        let samples = try await runConcurrently(count) { index in
            try await FramedClient.withConnection(to: blackboard.address) { frames in
                _ = try await client.handshake(on: frames, credentials: credentials[index % credentials.count])
            }
        }
        let elapsed = now() - start
        // Sessions that end right after the handshake are closed by the server asynchronously; let them finish.
        try await Task.sleep(for: .milliseconds(300))
        let cpuPerHandshake = (blackboard.cpuSeconds - cpuBefore) / Double(count)
        let floor = try CryptoLimits.handshakeFloor(
            certificate: credentials[0].certificate,
            root: root,
            seconds: settings.limitSeconds
        )
        let versionOneFloor = try CryptoLimits.versionOneHandshakeFloor(
            certificate: credentials[0].certificate, root: root, seconds: settings.limitSeconds)
        return [
            Figure("handshake", "handshakes/s (\(settings.concurrency) clients)", Double(count) / elapsed, "1/s"),
            Figure("handshake", "latency p50", samples.percentile(0.5) * 1000, "ms"),
            Figure("handshake", "latency p99", samples.percentile(0.99) * 1000, "ms"),
            Figure(
                "handshake", "Blackboard CPU per handshake", cpuPerHandshake * 1e6, "µs", limit: floor * 1e6,
                target: "≤ 1.5"),
            Figure("handshake", "crypto floor, version 2", floor * 1e6, "µs"),
            Figure("handshake", "crypto floor, version 1", versionOneFloor * 1e6, "µs"),
        ]
    }

    // MARK: Uploads

    func uploads(cuhk: ChildServer, blackboard: ChildServer) async throws -> [Figure] {
        let credential = try await enroll(1, base: 1_200_000_000, cuhk: cuhk)[0]
        let client = UploadClient(configuration: .init(blackboard: blackboard.address, root: try root, window: 16))
        var figures: [Figure] = []
        for size in [64, 4 * 1024, 64 * 1024, 1024 * 1024] {
            let count = max(4, min(20_000, Int(settings.uploadMiB * 1024 * 1024) / size))
            let content = [UInt8](repeating: 0x61, count: size)
            let elapsed = try await FramedClient.withConnection(to: blackboard.address) { frames in
                let session = try await client.handshake(on: frames, credentials: credential)
                let start = now()
                _ = try await client.send(
                    repeatElement(content, count: count), on: frames, session: session, credentials: credential)
                return now() - start
            }
            let rate = Double(count) / elapsed
            let limit = CryptoLimits.aeadRate(size: size, seconds: settings.limitSeconds)
            let label = size >= 1024 * 1024 ? "1 MiB" : size >= 1024 ? "\(size / 1024) KiB" : "\(size) B"
            figures.append(
                Figure(
                    "upload", "\(label) messages/s (\(count) messages)", rate, "1/s", limit: limit,
                    target: size == 64 * 1024 ? "≥ 0.5" : nil))
            figures.append(Figure("upload", "\(label) content throughput", rate * Double(size) / 1e6, "MB/s"))
            if size == 64 * 1024 {
                // Version 1 authenticated each message with HMAC-SHA256 and sent it in the clear.
                figures.append(
                    Figure(
                        "upload", "64 KiB HMAC limit (version 1)",
                        CryptoLimits.hmacRate(size: size, seconds: settings.limitSeconds), "1/s"))
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
            Figure("end to end", "with key generation p50", withKeys.percentile(0.5), "ms"),
            Figure("end to end", "with key generation p99", withKeys.percentile(0.99), "ms"),
            Figure("end to end", "without key generation p50", withoutKeys.percentile(0.5), "ms", target: "≤ 10 ms"),
            Figure("end to end", "without key generation p99", withoutKeys.percentile(0.99), "ms"),
        ]
    }

    // MARK: Memory

    /// A fresh Blackboard: resident memory with no sessions, then with K idle established sessions.
    func memory(cuhk: ChildServer) async throws -> [Figure] {
        let blackboard = try startBlackboard(
            "blackboard-memory", ["--idle-timeout", "600", "--handshake-timeout", "600"])
        defer { blackboard.stop() }
        let credentials = try await enroll(8, base: 1_400_000_000, cuhk: cuhk)
        // Idle sessions end with an empty report.
        let client = UploadClient(
            configuration: .init(blackboard: blackboard.address, root: try root, allowsEmptyReport: true))
        // One complete session first, so the baseline includes what every process pays once.
        _ = try await client.upload([[1]], as: credentials[0])
        try await Task.sleep(for: .milliseconds(200))
        let baseline = blackboard.residentBytes

        let sessions = settings.idle
        let established = WorkQueue()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        let measured = try await withThrowingTaskGroup(of: Int?.self) { group in
            for index in 0..<sessions {
                group.addTask {
                    try await FramedClient.withConnection(to: blackboard.address, timeout: .seconds(600)) { frames in
                        let credential = credentials[index % credentials.count]
                        let session = try await client.handshake(on: frames, credentials: credential)
                        _ = established.take()
                        for await _ in release { break }
                        _ = try await client.send([[UInt8]](), on: frames, session: session, credentials: credential)
                    }
                    return nil
                }
                if index % 64 == 63 {
                    while established.taken < index - 32 { try await Task.sleep(for: .milliseconds(5)) }
                }
            }
            group.addTask {
                while established.taken < sessions { try await Task.sleep(for: .milliseconds(20)) }
                try await Task.sleep(for: .milliseconds(500))
                let resident = blackboard.residentBytes
                releaseContinuation.finish()
                return resident
            }
            var resident = 0
            for try await value in group { if let value { resident = value } }
            return resident
        }
        let perSession = Double(measured - baseline) / Double(sessions)
        return [
            Figure("memory", "Blackboard resident, no sessions", Double(baseline) / 1_048_576, "MiB"),
            Figure("memory", "Blackboard resident, \(sessions) idle sessions", Double(measured) / 1_048_576, "MiB"),
            Figure("memory", "per idle session", perSession / 1024, "KiB", target: "≤ 16 KiB"),
        ]
    }
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
