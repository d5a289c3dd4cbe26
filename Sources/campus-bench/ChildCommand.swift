import CampusCommandLine
import CampusPKI
import Foundation

/// A command the benchmark runs to completion: a peer's load client, a build, a profiler's control command.
struct ChildCommand {
    /// The command, its first element looked up in `PATH`.
    var command: [String]
    /// Variables added to the benchmark's own.
    var environment: [String: String] = [:]
    var directory: String?

    /// What the command printed (standard output and standard error, in one file) and how it ended.
    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs the command and waits for it without holding a thread; its output goes through `outputPath`.
    func run(outputPath: String) async throws -> Result {
        let process = try Self.start(
            command, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            directory: directory, standardOutput: .file(outputPath), standardError: .standardOutput)
        let status = await process.wait().statusOrSignal
        return Result(status: status, output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// Runs the command and returns its output; throws if it fails, with the end of what it printed.
    func output(outputPath: String) async throws -> String {
        let result = try await run(outputPath: outputPath)
        guard result.status == 0 else {
            let tail = result.output.split(separator: "\n").suffix(5).joined(separator: " / ")
            throw BenchError("`\(command.joined(separator: " "))` failed (status \(result.status)): \(tail)")
        }
        return result.output
    }

    /// Starts `command`, its first element looked up in `PATH`, with `posix_spawn` (``ChildProcess``: no signal
    /// blocked, so a program that does not unblock them itself, `openssl s_server` or `perf record`, still sees the
    /// SIGINT that stops it; and none of Foundation's `Process`, whose launch on Linux now and then crashes the
    /// launching process).
    static func start(
        _ command: [String], environment: [String: String]? = nil, directory: String? = nil,
        standardOutput: ChildProcess.Stream = .descriptor(1), standardError: ChildProcess.Stream = .descriptor(2)
    ) throws -> ChildProcess {
        try ChildProcess.launch(
            "/usr/bin/env", arguments: command, environment: environment, directory: directory,
            standardInput: .null, standardOutput: standardOutput, standardError: standardError)
    }

    /// The full path of `name` in `PATH`, or nil when it is not installed.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { SecureFile.join(String($0), name) }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
