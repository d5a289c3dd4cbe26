import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation

/// The deadline rush (`--scenario deadline-rush`): N enrolled students each upload one report, all started at once,
/// against one deployment (SQLite, PostgreSQL, several instances behind HAProxy); reports per second, time to receipt,
/// and where the machine's CPU went meanwhile.
extension BenchRunner {
    /// The servers of the deployment, started: one `cuhk` and one `blackboard`, or several of each with HAProxy in front.
    func startDeployment() throws -> RunningDeployment {
        let deployment = settings.deployment
        guard deployment.instances > 1 else {
            let cuhk = try startCUHK()
            let blackboard = try startBlackboard("blackboard")
            return RunningDeployment(
                cuhkAddress: cuhk.address, blackboardAddress: blackboard.address, cuhk: [cuhk],
                blackboards: [blackboard])
        }
        // CUHK's public URL is HAProxy's HTTP front, so OCSP and timestamp requests spread over the instances.
        let front = (cuhk: try FreePort.make(), http: try FreePort.make(), blackboard: try FreePort.make())
        let publicURL = "http://127.0.0.1:\(front.http)/"
        try initializeDatabase(publicURL: publicURL)
        var cuhks: [ChildServer] = []
        var httpPorts: [Int] = []
        var blackboards: [ChildServer] = []
        for index in 1...deployment.instances {
            // Each instance in its own directory, as on its own machine: a copy of the root's and the timestamp
            // authority's files (docs/DEPLOYMENT.md).
            let instanceDirectory = index == 1 ? cuhkDirectory : try copyKeys(of: cuhkDirectory, to: "cuhk-\(index)")
            let http = try FreePort.make()
            httpPorts.append(http)
            cuhks.append(try startCUHK(in: instanceDirectory, ocspPort: http, publicURL: publicURL))
            blackboards.append(try startBlackboard("blackboard-\(index)"))
        }
        let balancer = try LoadBalancer(
            directory: directory, ports: front, cuhk: cuhks.map(\.address),
            http: httpPorts.map { ServerAddress(host: "127.0.0.1", port: $0) }, blackboard: blackboards.map(\.address))
        loadBalancer = balancer
        return RunningDeployment(
            cuhkAddress: balancer.cuhk, blackboardAddress: balancer.blackboard, cuhk: cuhks, blackboards: blackboards)
    }

    /// `cuhk`, alone: on SQLite it makes its root and Blackboard's certificate as it starts; on PostgreSQL `cuhk init
    /// --database` makes them first, with a public URL on a port chosen now.
    func startCUHK() throws -> ChildServer {
        guard settings.deployment.database != nil else {
            return try start(
                "cuhk",
                [
                    "--dir", cuhkDirectory, "--open-enrollment", "--ocsp-port", "0", "--max-connections-per-address",
                    Self.perAddressLimit, "--http-max-connections-per-address", Self.perAddressLimit,
                ])
        }
        let http = try FreePort.make()
        let publicURL = "http://127.0.0.1:\(http)/"
        try initializeDatabase(publicURL: publicURL)
        return try startCUHK(in: cuhkDirectory, ocspPort: http, publicURL: publicURL)
    }

    /// One `cuhk serve` instance on a database `cuhk init` has made.
    func startCUHK(in directory: String, ocspPort: Int, publicURL: String) throws -> ChildServer {
        try start(
            "cuhk",
            [
                "serve", "--dir", directory, "--open-enrollment", "--ocsp-port", "\(ocspPort)", "--public-url",
                publicURL, "--max-connections-per-address", Self.perAddressLimit, "--http-max-connections-per-address",
                Self.perAddressLimit,
            ])
    }

    /// `cuhk init --database`: the root, the timestamp authority and Blackboard's certificate, once.
    func initializeDatabase(publicURL: String) throws {
        let output = SecureFile.join(directory, "cuhk-init.out")
        let initialize = try ChildCommand.start(
            [SecureFile.join(executables, "cuhk"), "init", "--dir", cuhkDirectory, "--public-url", publicURL],
            environment: settings.deployment.serverEnvironment, standardOutput: .file(output),
            standardError: .standardOutput)
        guard initialize.waitBlocking() == .exited(0) else {
            let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw BenchError(
                "cuhk init --database \(settings.deployment.database?.redacted ?? "") failed; the database must be "
                    + "empty (a new one for each run): \(said.split(separator: "\n").suffix(3).joined(separator: " / "))"
            )
        }
    }

    /// Copies the keys and certificates of `source` into a new directory `name`, keys with mode 0600.
    func copyKeys(of source: String, to name: String) throws -> String {
        let target = SecureFile.join(directory, name)
        try SecureFile.createDirectory(target)
        for file in try FileManager.default.contentsOfDirectory(atPath: source)
        where file.hasSuffix(".key") || file.hasSuffix(".cer") {
            guard let text = try SecureFile.readText(at: SecureFile.join(source, file)) else { continue }
            try SecureFile.write(
                text, to: SecureFile.join(target, file), mode: file.hasSuffix(".key") ? SecureFile.privateMode : 0o644,
                replacing: false)
        }
        return target
    }

    func deadlineRush() async throws -> [Figure] {
        let deployment = try startDeployment()
        let count = settings.students
        progress("deadline rush (\(settings.deployment.label)): enrolling \(count) students…")
        // One more student than the rush has, for the warm-up.
        let credentials = try await enroll(count + 1, base: 1_500_000_000, cuhk: deployment.cuhkAddress)
        let client = UploadClient(configuration: .init(blackboard: deployment.blackboardAddress, root: try root))
        let reports = credentials.map { credential in
            (1...settings.rushMessages).map { part in
                Array("Report of \(credential.studentID), part \(part) of \(settings.rushMessages). ".utf8)
                    + [UInt8](repeating: 0x2E, count: Self.rushMessagePadding)
            }
        }
        // One warm-up upload, so that no student pays for what each server does once.
        _ = try await client.upload(reports[count], as: credentials[count])

        progress("deadline rush (\(settings.deployment.label)): \(count) uploads at once…")
        let usage = CPUUsage(deployment: deployment, balancer: loadBalancer)
        let before = usage.sample()
        let start = now()
        let (times, failed) = try await withThrowingTaskGroup(of: Result<Double, RushFailure>.self) { group in
            // Every student's upload is a task from the start: the connections, handshakes and reports all compete.
            for index in 0..<count {
                group.addTask {
                    do {
                        _ = try await client.upload(reports[index], as: credentials[index])
                        return .success(now() - start)
                    } catch {
                        return .failure(RushFailure(reason: "\(error)"))
                    }
                }
            }
            var (samples, failed) = (Samples(), [String]())
            for try await outcome in group {
                switch outcome {
                case .success(let time): samples.add(time * 1000)
                case .failure(let failure): failed.append(failure.reason)
                }
            }
            return (samples, failed)
        }
        let elapsed = now() - start
        let after = usage.sample()
        for reason in Set(failed).sorted().prefix(5) {
            // On standard error even with --json: a student without a receipt is never silent.
            Terminal.error("deadline rush: an upload failed: \(reason)")
        }
        let received = count - failed.count
        let capacity = elapsed * Double(cores)
        func share(_ seconds: Double) -> Double { 100 * seconds / capacity }
        let spent = after - before
        let group = "rush"
        var figures = [
            Figure(
                group, "receipts (\(count) students, \(settings.rushMessages) messages each)", Double(received), "",
                key: "rush.receipts"),
            Figure(group, "students without a receipt", Double(failed.count), "", key: "rush.failed"),
            Figure(group, "reports/s", Double(received) / elapsed, "1/s", key: "rush.rate"),
            Figure(group, "time to receipt p50", times.percentile(0.5), "ms", key: "rush.p50"),
            Figure(group, "time to receipt p99", times.percentile(0.99), "ms", key: "rush.p99"),
            Figure(
                group, "Blackboard CPU per report", spent.blackboard / Double(count) * 1e6, "µs",
                key: "rush.blackboard-cpu"),
            Figure(
                group, "CUHK CPU per report (its timestamp)", spent.cuhk / Double(count) * 1e6, "µs",
                key: "rush.cuhk-cpu"),
            Figure(
                group, "machine busy (\(cores) cores = 100 %)",
                share(spent.machine), "%", key: "rush.busy"),
            Figure(group, "  students (this process)", share(spent.students), "%", key: "rush.share.students"),
            Figure(
                group, "  Blackboard" + (deployment.blackboards.count > 1 ? " ×\(deployment.blackboards.count)" : ""),
                share(spent.blackboard), "%", key: "rush.share.blackboard"),
            Figure(
                group, "  CUHK" + (deployment.cuhk.count > 1 ? " ×\(deployment.cuhk.count)" : ""), share(spent.cuhk),
                "%", key: "rush.share.cuhk"),
        ]
        if loadBalancer != nil {
            figures.append(Figure(group, "  HAProxy", share(spent.balancer), "%", key: "rush.share.haproxy"))
        }
        // /proc/stat and each process's times are counted in ticks of 10 ms: a short rush can make this negative.
        figures.append(
            Figure(
                group,
                settings.deployment.database == nil ? "  the rest (the system)" : "  the rest (PostgreSQL, the system)",
                share(max(0, spent.rest)), "%", key: "rush.share.rest"))
        return figures
    }

    /// Bytes of padding after each message's first line: messages of about 128 bytes, like a report's paragraphs.
    static let rushMessagePadding = 64
}

/// Why one student of the rush got no receipt.
struct RushFailure: Error {
    var reason: String
}

/// CPU time spent so far by each part of a deployment, the benchmark itself and the whole machine.
struct CPUUsage {
    var deployment: RunningDeployment
    var balancer: LoadBalancer?

    struct Sample {
        var blackboard = 0.0
        var cuhk = 0.0
        var balancer = 0.0
        var students = 0.0
        /// Every core's busy time (`/proc/stat`: all but idle and iowait).
        var machine = 0.0

        /// What the machine spent on neither the servers, HAProxy nor this process.
        var rest: Double { machine - blackboard - cuhk - balancer - students }

        static func - (after: Sample, before: Sample) -> Sample {
            Sample(
                blackboard: after.blackboard - before.blackboard, cuhk: after.cuhk - before.cuhk,
                balancer: after.balancer - before.balancer, students: after.students - before.students,
                machine: after.machine - before.machine)
        }
    }

    func sample() -> Sample {
        Sample(
            blackboard: deployment.blackboards.map(\.cpuSeconds).reduce(0, +),
            cuhk: deployment.cuhk.map(\.cpuSeconds).reduce(0, +),
            balancer: balancer?.cpuSeconds ?? 0,
            students: ChildServer.cpuSeconds(of: getpid()),
            machine: Self.machineBusySeconds())
    }

    /// Busy seconds of all cores since boot.
    static func machineBusySeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return .nan }
        // cpu user nice system idle iowait irq softirq steal ... (man 5 proc), in clock ticks.
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 5 else { return .nan }
        let busy = ticks.prefix(8).reduce(0, +) - ticks[3] - ticks[4]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
