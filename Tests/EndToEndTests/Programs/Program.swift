import CampusPKI
import Foundation

/// One of the package's executables, run as a user runs it: a child process with arguments, a working directory,
/// standard input, and its standard output and error captured in files.
struct Program {
    /// How a run ended.
    struct Outcome {
        var status: Int32
        /// Whether the process was killed by a signal (then `status` is the signal).
        var killed: Bool
        var output: String
        var errorOutput: String
        /// Both streams, output first.
        var all: String { output + errorOutput }
    }

    let name: String

    /// The directory the test bundle and the executables were built into.
    static let buildDirectory: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // `swift test` may run the bundle's inner binary (….xctest/…) on some platforms.
        while !directory.path.isEmpty, directory.path != "/",
            !FileManager.default.fileExists(atPath: directory.appendingPathComponent("cuhk").path)
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    var path: String { Self.buildDirectory.appendingPathComponent(name).path }

    /// Starts the program.
    ///
    /// - Parameters:
    ///   - descriptorLimit: Runs the program under `ulimit -n` with this soft and hard limit.
    func start(
        _ arguments: [String], in directory: String, environment: [String: String] = [:], input: String? = nil,
        descriptorLimit: Int? = nil
    ) throws -> Running {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CampusError(.internalError, "\(path) is not built; run `swift build` first")
        }
        let process = Process()
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stamp = UUID().uuidString.prefix(8)
        let outputPath = SecureFile.join(directory, ".\(name)-\(stamp).out")
        let errorPath = SecureFile.join(directory, ".\(name)-\(stamp).err")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        if let input {
            let inputPath = SecureFile.join(directory, ".\(name)-\(stamp).in")
            _ = FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        } else {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        }
        // One launch at a time: Foundation's `Process.run()` on Linux has crashed (a bad read while copying the
        // launch's arguments) when tests launched programs from several threads at once.
        try Self.launching.withLock { try process.run() }
        return Running(process: process, outputPath: outputPath, errorPath: errorPath)
    }

    /// Runs the program to its end.
    func run(
        _ arguments: [String], in directory: String, environment: [String: String] = [:], input: String? = nil,
        limit: Duration = .seconds(120)
    ) async throws -> Outcome {
        let running = try start(arguments, in: directory, environment: environment, input: input)
        return try await running.wait(limit: limit)
    }

    /// Held while a program is launched.
    static let launching = NSLock()

    static let cuhk = Program(name: "cuhk")
    static let blackboard = Program(name: "blackboard")
    static let student = Program(name: "student")
    static let campusDemo = Program(name: "campus-demo")
}

/// A started program.
final class Running: @unchecked Sendable {
    // Unchecked: `Process` is only asked for its state and signalled; the paths never change.
    let process: Process
    let outputPath: String
    let errorPath: String

    init(process: Process, outputPath: String, errorPath: String) {
        self.process = process
        self.outputPath = outputPath
        self.errorPath = errorPath
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errorOutput: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
    /// The raw bytes of both streams.
    var rawOutput: [UInt8] {
        Array(
            (FileManager.default.contents(atPath: outputPath) ?? Data())
                + (FileManager.default.contents(atPath: errorPath) ?? Data()))
    }

    /// Waits for the `listening on HOST:PORT` line (or another server's, such as `ocsp listening on`).
    func address(announcedBy prefix: String = "listening on ", limit: Duration = .seconds(60)) async throws
        -> ServerAddress
    {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
                let address = ServerAddress(String(line.dropFirst(prefix.count)))
            {
                return address
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CampusError(.timeout, "\(process.executableURL?.lastPathComponent ?? "?") did not listen: \(errorOutput)")
    }

    /// Sends a signal.
    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// Waits for the end, killing the process after `limit`.
    func wait(limit: Duration = .seconds(120)) async throws -> Program.Outcome {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                process.waitUntilExit()
                throw CampusError(.timeout, "the program did not end in time; output: \(output) \(errorOutput)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        return Program.Outcome(
            status: process.terminationStatus, killed: process.terminationReason == .uncaughtSignal,
            output: output, errorOutput: errorOutput)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
