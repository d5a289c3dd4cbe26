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
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try Self.launch(process)
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
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

    /// Starts `process` with no signal blocked. A child inherits the signal mask of the thread that starts it, and
    /// the threads of Swift's concurrency pool block every signal: a program that does not unblock them itself
    /// (`openssl s_server`, `perf record`) would never see the SIGINT that stops it.
    static func launch(_ process: Process) throws {
        var none = sigset_t()
        var previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    /// The full path of `name` in `PATH`, or nil when it is not installed.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { SecureFile.join(String($0), name) }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
