import CampusCommandLine
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
        let stamp = UUID().uuidString.prefix(8)
        let outputPath = SecureFile.join(directory, ".\(name)-\(stamp).out")
        let errorPath = SecureFile.join(directory, ".\(name)-\(stamp).err")
        var inputPath: String?
        if let input {
            inputPath = SecureFile.join(directory, ".\(name)-\(stamp).in")
            _ = FileManager.default.createFile(atPath: inputPath!, contents: Data(input.utf8))
        }
        let (executable, launchArguments) =
            if let descriptorLimit {
                ("/bin/sh", ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", path] + arguments)
            } else {
                (path, arguments)
            }
        let process = try ChildProcess.launch(
            executable, arguments: launchArguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, directory: directory,
            standardInput: inputPath.map { .file($0) } ?? .null, standardOutput: .file(outputPath),
            standardError: .file(errorPath))
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

    static let cuhk = Program(name: "cuhk")
    /// For a `cuhk` that the test process enrolls with: 30 s of silence, not the default 10 s, since a busy machine
    /// can starve the test process for seconds between its connection and its first frame. No test that starts
    /// `cuhk` with these is about CUHK's timeout.
    static let patientCUHK = ["--timeout", "30"]
    /// The same for a `blackboard` that the test process connects to: 30 s for the handshake, not 10 s.
    static let patientBlackboard = ["--handshake-timeout", "30"]
    static let blackboard = Program(name: "blackboard")
    static let student = Program(name: "student")
    static let campusDemo = Program(name: "campus-demo")
}

/// A started program.
final class Running: Sendable {
    let process: ChildProcess
    let outputPath: String
    let errorPath: String

    init(process: ChildProcess, outputPath: String, errorPath: String) {
        self.process = process
        self.outputPath = outputPath
        self.errorPath = errorPath
    }

    var pid: Int32 { process.pid }
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
        throw CampusError(
            .timeout, "\(URL(fileURLWithPath: process.path).lastPathComponent) did not listen: \(errorOutput)")
    }

    /// Sends a signal.
    func signal(_ number: Int32) {
        process.signal(number)
    }

    /// Waits for the end, killing the process after `limit`.
    func wait(limit: Duration = .seconds(120)) async throws -> Program.Outcome {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.signal(SIGKILL)
                _ = process.waitBlocking()
                throw CampusError(.timeout, "the program did not end in time; output: \(output) \(errorOutput)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let (status, killed): (Int32, Bool) =
            switch process.waitBlocking() {
            case .exited(let status): (status, false)
            case .signalled(let signal): (signal, true)
            }
        return Program.Outcome(status: status, killed: killed, output: output, errorOutput: errorOutput)
    }

    deinit {
        if process.isRunning {
            process.signal(SIGKILL)
            _ = process.waitBlocking()
        }
    }
}
