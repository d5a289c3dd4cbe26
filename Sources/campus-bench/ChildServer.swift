import CampusPKI
import Foundation

/// A `cuhk` or `blackboard` release executable running as a child process on a free port.
///
/// Unchecked: every stored property is set once in `init`; `Process` is only asked for its state.
final class ChildServer: @unchecked Sendable {
    let name: String
    let process: Process
    let address: ServerAddress
    let outputPath: String

    /// Starts `executable` with `arguments` plus `--port 0`, and waits for its `listening on HOST:PORT` line.
    init(_ executable: String, arguments: [String], directory: String) throws {
        name = (executable as NSString).lastPathComponent
        outputPath = SecureFile.join(directory, "\(name).out")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments + ["--port", "0", "--log-level", "warning"]
        // The servers print one line per step; a file never blocks them the way a full pipe would.
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var found: ServerAddress?
        while found == nil, Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: outputPath, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") })
            {
                found = ServerAddress(String(line.dropFirst("listening on ".count)))
            } else {
                usleep(10_000)
            }
        }
        guard let found else {
            process.terminate()
            throw BenchError("\(name) did not print its listening address (see \(outputPath))")
        }
        address = found
    }

    /// User plus system CPU time of the process so far, in seconds.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return .nan }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory, in bytes.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// Asks the server to shut down gracefully and waits for it.
    func stop() {
        guard process.isRunning else { return }
        process.interrupt()
        process.waitUntilExit()
    }

    /// The directory of the release executables, built (or brought up to date) first: `swift run campus-bench`
    /// builds only the benchmark itself, and a stale server binary would measure old code.
    static func releaseExecutables() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("Package.swift").path) else {
            // Installed without its sources: use the executables beside the benchmark as they are.
            return here.path
        }
        for product in ["cuhk", "blackboard"] {
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "-c", "release", "--product", product]
            build.currentDirectoryURL = packageRoot
            build.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try build.run()
            build.waitUntilExit()
            guard build.terminationStatus == 0 else { throw BenchError("building \(product) (release) failed") }
        }
        return here.path
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
