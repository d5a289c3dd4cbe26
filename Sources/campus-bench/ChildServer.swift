import CampusCommandLine
import CampusPKI
import Foundation

/// A server running as a child process for the benchmark: a `cuhk` or `blackboard` release executable on a free
/// port, or one of the peers it is compared with (`--peers`).
///
final class ChildServer: Sendable {
    let name: String
    let process: ChildProcess
    let address: ServerAddress
    let outputPath: String

    /// Starts `executable` with `arguments` plus `--port 0`, and waits for its `listening on HOST:PORT` line.
    ///
    /// - Parameter wrapper: A command the server runs under (valgrind, for a profile), or none.
    /// - Parameters:
    ///   - outputName: Names its output file, `NAME.out` in `directory` (else the executable's name).
    ///   - environment: The server's environment (else the benchmark's own).
    convenience init(
        _ executable: String, arguments: [String], directory: String, wrapper: [String] = [],
        outputName: String? = nil, environment: [String: String]? = nil
    ) throws {
        try self.init(
            name: (executable as NSString).lastPathComponent,
            outputName: outputName,
            command: wrapper + [executable] + arguments + ["--port", "0", "--log-level", "warning"],
            directory: directory,
            environment: environment,
            // Under valgrind, starting takes minutes rather than a second.
            patience: wrapper.isEmpty ? 60 : 900,
            // Their warnings and errors too: at --log-level warning they are few, and say why a server ended.
            keepsErrors: true
        ) { line in
            line.hasPrefix("listening on ") ? ServerAddress(String(line.dropFirst("listening on ".count))) : nil
        }
    }

    /// Starts `command` (its first element looked up in `PATH`) and waits, at most `patience` seconds, for a line of
    /// its output from which `listening` reads where it listens.
    ///
    /// - Parameters:
    ///   - keepsErrors: Standard error goes to the output file too (else to `/dev/null`).
    ///   - outputName: Names its output file, `NAME.out` in `directory` (else `name`).
    ///   - workingDirectory: Where the server runs (else the benchmark's working directory).
    ///   - environment: The server's environment (else the benchmark's own).
    init(
        name: String, outputName: String? = nil, command: [String], directory: String, workingDirectory: String? = nil,
        environment: [String: String]? = nil, patience: TimeInterval = 60, keepsErrors: Bool = true,
        listening: (Substring) -> ServerAddress?
    ) throws {
        self.name = name
        outputPath = SecureFile.join(directory, "\(outputName ?? name).out")
        // The servers print one line per step; a file never blocks them the way a full pipe would.
        process = try ChildCommand.start(
            command, environment: environment, directory: workingDirectory, standardOutput: .file(outputPath),
            standardError: keepsErrors ? .standardOutput : .null)
        let deadline = Date().addingTimeInterval(patience)
        var found: ServerAddress?
        while found == nil, Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: outputPath, encoding: .utf8),
                let announced = text.split(separator: "\n").lazy.compactMap(listening).first
            {
                found = announced
            } else {
                usleep(10_000)
            }
        }
        guard let found else {
            if process.isRunning { process.signal(SIGTERM) }
            let said = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw BenchError(
                "\(name) did not print its listening address; it said: "
                    + ControlCharacters.escaped(said.split(separator: "\n").suffix(4).joined(separator: " / ")))
        }
        address = found
    }

    /// User plus system CPU time of the process so far, in seconds.
    var cpuSeconds: Double { Self.cpuSeconds(of: process.pid) }

    /// User plus system CPU time of process `pid` so far, in seconds (`/proc/PID/stat`, in clock ticks of 10 ms).
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return .nan }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory, in bytes.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// Asks the server to shut down gracefully (SIGINT) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        process.signal(SIGINT)
        _ = process.waitBlocking()
    }

    /// The root of the package this benchmark was built from, or nil when it runs without its sources.
    static var packageRoot: URL? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) ? root : nil
    }

    /// The directory of the release executables, built (or brought up to date) first: `swift run campus-bench`
    /// builds only the benchmark itself, and a stale server binary would measure old code.
    static func releaseExecutables() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        guard let packageRoot else {
            // Installed without its sources: use the executables beside the benchmark as they are.
            return here.path
        }
        for product in ["cuhk", "blackboard"] {
            let build = try ChildCommand.start(
                ["swift", "build", "-c", "release", "--product", product], directory: packageRoot.path,
                standardOutput: .null)
            guard build.waitBlocking() == .exited(0) else { throw BenchError("building \(product) (release) failed") }
        }
        return here.path
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
