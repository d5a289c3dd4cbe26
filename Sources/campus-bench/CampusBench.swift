import ArgumentParser
import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation
import X509
import _CryptoExtras

/// Measures CampusPKI against the limits of the machine it runs on (docs/PERFORMANCE.md).
@main
struct CampusBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campus-bench",
        abstract: "Measure issuing, handshakes, uploads, the end-to-end flow and memory against the crypto limits."
    )

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "A short run (about 15 seconds).")
    var quick = false

    @Flag(help: "A few requests of each kind, to check the benchmark still runs (CI).")
    var smoke = false

    @Option(help: "Certificates to issue.")
    var issueRequests: Int?

    @Option(help: "Concurrent issuing clients (default 2 × cores).")
    var concurrency: Int?

    @Option(help: "Handshakes to run.")
    var handshakes: Int?

    @Option(name: .customLong("upload-mib"), help: "Upload bytes per message size, in MiB.")
    var uploadMiB: Double?

    @Option(help: "End-to-end runs, each way.")
    var endToEndRuns: Int?

    @Option(help: "Idle sessions for the memory figure.")
    var idleSessions: Int?

    @Flag(
        help: """
            Also run the real peers in the same run — cfssl serve after issuing, a Go crypto/tls and an openssl \
            s_server TLS 1.3 mutual-TLS server after the handshakes — and add the ratios to them \
            (needs go, cfssl, openssl; sqlite3 for cfssl's database).
            """)
    var peers = false

    @Option(
        help: ArgumentHelp(
            "Only these groups of figures, comma-separated: \(BenchRunner.Group.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "groups"),
        transform: Self.groups)
    var only: Set<BenchRunner.Group>?

    @Option(
        help: ArgumentHelp(
            "Upload message sizes in bytes, comma-separated (default 64,4096,65536,1048576).", valueName: "sizes"),
        transform: Self.sizes)
    var uploadSizes: [Int]?

    @Option(
        help: ArgumentHelp(
            "Messages the upload client keeps ahead of their acknowledgements "
                + "(default: the Student's, \(ReportWindow.size))."))
    var uploadWindow: Int?

    @Option(
        help: """
            Profile the server under test during each measured section (CUHK issuing, Blackboard's handshakes and \
            uploads) with callgrind or perf; the figures of such a run mean nothing.
            """)
    var profile: ServerProfiler.Tool?

    @Option(help: "Where --profile writes its profiles.")
    var profileDirectory = "campus-bench-profiles"

    @Option(
        help: ArgumentHelp(
            "What to run: figures (every group, against their limits) or deadline-rush.",
            discussion: """
                deadline-rush: --students students enroll, then each uploads one report of --rush-messages messages, \
                all started at once; it reports reports per second, the time to each receipt and where the CPU went.
                """))
    var scenario: Scenario = .figures

    @Option(
        help: ArgumentHelp(
            "Run the servers on this PostgreSQL database, \(DatabaseURL.form), instead of SQLite files.",
            discussion: """
                The database must be new and empty: cuhk init --database makes the root in it first. A password is \
                taken from PGPASSWORD when the URL has none, and reaches the servers in their environment, never on \
                their command lines.
                """))
    var database: String?

    @Option(
        help: "cuhk and blackboard instances behind one HAProxy address (needs --database, haproxy, deadline-rush).")
    var instances = 1

    @Option(help: "Students in the deadline rush (default 500; 200 with --quick, 20 with --smoke).")
    var students: Int?

    @Option(help: "Messages in each report of the deadline rush.")
    var rushMessages = 5

    @Option(
        help: ArgumentHelp(
            "Run the cuhk and blackboard executables in this directory as they are, instead of building the release "
                + "ones of this package (to compare two builds in alternating runs).",
            valueName: "directory"))
    var servers: String?

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case figures
        case deadlineRush = "deadline-rush"
    }

    func validate() throws {
        if let database {
            do { _ = try DatabaseURL(parsing: database) } catch let error as DatabaseURL.ParseError {
                throw ValidationError("--database: \(error.reason)")
            }
        }
        guard instances >= 1 else { throw ValidationError("--instances must be at least 1") }
        if instances > 1 {
            guard database != nil else {
                throw ValidationError(
                    "--instances \(instances) needs --database: instances share one PostgreSQL database (SQLite is one "
                        + "file per instance)")
            }
            guard scenario == .deadlineRush else {
                throw ValidationError(
                    "--instances \(instances) needs --scenario deadline-rush: the other figures measure one server")
            }
        }
        guard students.map({ $0 >= 1 }) ?? true, rushMessages >= 1 else {
            throw ValidationError("--students and --rush-messages must be at least 1")
        }
        if let servers {
            for name in ["cuhk", "blackboard"] {
                let path = SecureFile.join(servers, name)
                guard FileManager.default.isExecutableFile(atPath: path) else {
                    throw ValidationError("--servers: \(path) is not an executable file")
                }
            }
        }
        if scenario == .deadlineRush, profile != nil {
            throw ValidationError("--profile profiles the figures' sections, not the deadline rush")
        }
    }

    func run() async throws {
        // The benchmark's clients stand for the student program, which tunes its allocator the same way.
        AllocatorTuning.apply()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let scale: Settings =
            smoke
            ? .init(issue: 8, handshakes: 8, uploadMiB: 0.25, endToEnd: 2, idle: 20, limitSeconds: 0.1)
            : quick
                ? .init(issue: 300, handshakes: 300, uploadMiB: 8, endToEnd: 10, idle: 300, limitSeconds: 0.3)
                : .init(issue: 2000, handshakes: 2000, uploadMiB: 48, endToEnd: 40, idle: 1000, limitSeconds: 1)
        let groups = only ?? Set(BenchRunner.Group.allCases)
        var profiler: ServerProfiler?
        if let profile {
            try SecureFile.createDirectory(profileDirectory)
            let directory = URL(fileURLWithPath: profileDirectory).standardizedFileURL.path
            var servers: Set<String> = []
            if groups.contains(.issuing) { servers.insert("cuhk") }
            if !groups.isDisjoint(with: [.handshake, .upload]) { servers.insert("blackboard") }
            profiler = ServerProfiler(tool: profile, directory: directory, servers: servers)
        }
        let settings = Settings(
            issue: issueRequests ?? scale.issue,
            handshakes: handshakes ?? scale.handshakes,
            uploadMiB: uploadMiB ?? scale.uploadMiB,
            endToEnd: endToEndRuns ?? scale.endToEnd,
            idle: idleSessions ?? scale.idle,
            limitSeconds: scale.limitSeconds,
            concurrency: concurrency ?? 2 * cores,
            groups: groups,
            uploadSizes: uploadSizes ?? [64, 4 * 1024, 64 * 1024, 1024 * 1024],
            uploadWindow: uploadWindow ?? ReportWindow.size,
            peers: peers,
            profile: profiler,
            scenario: scenario,
            deployment: Deployment(
                database: try database.map { try DatabaseURL(parsing: $0) }?.withPassword(
                    ProcessInfo.processInfo.environment[DatabaseOptions.passwordVariable]),
                instances: instances),
            students: students ?? (smoke ? 20 : quick ? 200 : 500),
            rushMessages: rushMessages
        )
        let runner = try BenchRunner(
            settings: settings, cores: cores, executables: servers,
            progress: json ? { _ in } : { Terminal.error($0) })
        defer { runner.stop() }
        let figures = try await runner.runAll()
        let machine = [
            "cores": String(cores),
            "cpu": Self.cpuModel(),
            "date": ISO8601DateFormatter().string(from: Date()),
            "mode": smoke ? "smoke" : quick ? "quick" : "default",
            "scenario": scenario.rawValue,
            "deployment": settings.deployment.label,
        ].merging(profile.map { ["profile": $0.rawValue] } ?? [:]) { $1 }
        // One line at a time: `Terminal.line` writes one line and escapes any line break inside it.
        if json {
            for line in try Report.json(figures, machine: machine).split(separator: "\n") {
                Terminal.line(String(line))
            }
        } else {
            Terminal.line(
                "campus-bench — \(machine["cpu"]!), \(cores) cores, \(machine["date"]!), \(machine["mode"]!) run, "
                    + settings.deployment.label
                    + (profile.map { ", profiled with \($0.rawValue) (the figures mean nothing)" } ?? ""))
            for line in Report.table(figures).split(separator: "\n") { Terminal.line(String(line)) }
        }
    }

    static func groups(_ text: String) throws -> Set<BenchRunner.Group> {
        Set(
            try text.split(separator: ",").map { name in
                guard let group = BenchRunner.Group(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError(
                        "unknown group '\(name)'; the groups are "
                            + BenchRunner.Group.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return group
            })
    }

    static func sizes(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { size in
            guard let bytes = Int(size.trimmingCharacters(in: .whitespaces)), bytes > 0 else {
                throw ValidationError("an upload size is a positive number of bytes, not '\(size)'")
            }
            return bytes
        }
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") })
        else { return "unknown CPU" }
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
    }
}

struct Settings {
    var issue: Int
    var handshakes: Int
    var uploadMiB: Double
    var endToEnd: Int
    var idle: Int
    var limitSeconds: Double
    var concurrency: Int = 4
    var groups = Set(BenchRunner.Group.allCases)
    var uploadSizes = [64, 4 * 1024, 64 * 1024, 1024 * 1024]
    /// Messages the upload client keeps ahead of their acknowledgements.
    var uploadWindow = ReportWindow.size
    /// Run the peers (`--peers`).
    var peers = false
    var profile: ServerProfiler?
    var scenario = CampusBench.Scenario.figures
    /// Where the servers keep their records and how many run (SQLite, one instance, by default).
    var deployment = Deployment()
    /// Students in the deadline rush.
    var students = 500
    /// Messages in each of their reports.
    var rushMessages = 5
}
