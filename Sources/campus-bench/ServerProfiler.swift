import ArgumentParser
import CampusCommandLine
import CampusPKI
import Foundation

/// Profiles the server under test during each measured section (`--profile`): CUHK while it issues, Blackboard
/// while it makes handshakes and while it takes each upload, and nothing else (not starting up, not the set-up of
/// a section, not shutting down). docs/PERFORMANCE.md, "Where the time goes", explains how to read the output.
///
/// - callgrind: the server runs under `valgrind --tool=callgrind` with instrumentation off;
///   `callgrind_control` switches it on at the start of a section and dumps the counts at its end, into
///   `DIR/SECTION.callgrind`. Instruction counts, user space only, the same on a busy machine as on a quiet one;
///   everything runs about 50 times slower, so the figures of a profiled run mean nothing.
/// - perf: `perf record -e cpu-clock -g` attaches to the server for the section, into `DIR/SECTION.perf.data`.
///   Samples of CPU time, kernel included, at full speed.
struct ServerProfiler: Sendable {
    enum Tool: String, ExpressibleByArgument, CaseIterable, Sendable {
        case callgrind
        case perf
    }

    let tool: Tool
    let directory: String
    /// The servers to profile: `cuhk` when issuing is measured, `blackboard` for handshakes or uploads.
    let servers: Set<String>

    /// A profile being taken.
    struct Session {
        var section: String
        var server: ChildServer
        var recorder: ChildProcess?
    }

    /// How to start `server`, whose release executable is `executable`: unchanged, or for callgrind under valgrind,
    /// with instrumentation off, on a copy of the executable without its debugging information (valgrind 3.19
    /// cannot read the DWARF 5 that Swift 6 writes; the symbol table stays, so functions keep their names), with
    /// `Benchmarks/profiling/sigsuspend-copy.c` preloaded (valgrind 3.19 crashes when an async `main` ends its main
    /// thread in `dispatch_main`).
    func launch(_ server: String, executable: String) throws -> (executable: String, wrapper: [String]) {
        guard tool == .callgrind, servers.contains(server) else { return (executable, []) }
        let tools = SecureFile.join(directory, "tools")
        try SecureFile.createDirectory(tools)
        let copy = SecureFile.join(tools, server)
        let objcopy = ChildCommand.find("llvm-objcopy") ?? "objcopy"
        try Self.run(
            [objcopy, "--strip-debug", executable, copy], log: SecureFile.join(tools, "\(server).objcopy.out"))
        guard let root = ChildServer.packageRoot else {
            throw BenchError("--profile callgrind needs the package's sources (Benchmarks/profiling)")
        }
        let shim = SecureFile.join(tools, "sigsuspend-copy.so")
        let compiler = ChildCommand.find("clang") ?? "cc"
        try Self.run(
            [
                compiler, "-shared", "-fPIC", "-O2", "-o", shim,
                root.appendingPathComponent("Benchmarks/profiling/sigsuspend-copy.c").path,
            ], log: SecureFile.join(tools, "sigsuspend-copy.out"))
        return (
            copy,
            [
                "LD_PRELOAD=\(shim)", "valgrind", "--tool=callgrind", "--instr-atstart=no",
                "--callgrind-out-file=\(SecureFile.join(directory, "\(server).%p.callgrind"))",
            ]
        )
    }

    /// Runs a preparation step to its end.
    private static func run(_ command: [String], log: String) throws {
        let process = try ChildCommand.start(command, standardOutput: .file(log), standardError: .standardOutput)
        guard process.waitBlocking() == .exited(0) else {
            throw BenchError("`\(command.joined(separator: " "))` failed (see \(log))")
        }
    }

    /// Starts profiling `server` for `section`.
    func begin(_ section: String, on server: ChildServer) async throws -> Session? {
        guard servers.contains(server.name) else { return nil }
        let pid = String(server.process.pid)
        switch tool {
        case .callgrind:
            try await control(["--instr=on", pid], section: section)
            try await control(["--zero", pid], section: section)
            return Session(section: section, server: server)
        case .perf:
            let output = SecureFile.join(directory, "\(section).perf.data")
            try? FileManager.default.removeItem(atPath: output)
            let log = SecureFile.join(directory, "\(section).perf.log")
            let recorder = try ChildCommand.start(
                ["perf", "record", "-e", "cpu-clock", "-g", "-p", pid, "-o", output], standardOutput: .file(log),
                standardError: .standardOutput)
            // perf writes its file's header once it is attached; it says nothing else until it stops.
            let deadline = Date().addingTimeInterval(30)
            while recorder.isRunning, Date() < deadline,
                ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0) == 0
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            guard recorder.isRunning else { throw BenchError("perf record did not start (see \(log))") }
            return Session(section: section, server: server, recorder: recorder)
        }
    }

    /// Stops profiling and writes the section's profile.
    func end(_ session: Session?) async throws {
        guard let session else { return }
        let pid = String(session.server.process.pid)
        switch tool {
        case .callgrind:
            try await control(["--dump=\(session.section)", pid], section: session.section)
            try await control(["--instr=off", pid], section: session.section)
            // The dump is written as SERVER.PID.callgrind.N; give it the section's name.
            let prefix = "\(session.server.name).\(pid).callgrind."
            let dumps = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasPrefix(prefix) }
                .compactMap { name in Int(name.dropFirst(prefix.count)).map { ($0, name) } }
            guard let newest = dumps.max(by: { $0.0 < $1.0 }) else {
                throw BenchError("callgrind wrote no profile for \(session.section) in \(directory)")
            }
            let target = SecureFile.join(directory, "\(session.section).callgrind")
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.moveItem(atPath: SecureFile.join(directory, newest.1), toPath: target)
        case .perf:
            guard let recorder = session.recorder else { return }
            recorder.signal(SIGINT)
            _ = await recorder.wait()
        }
    }

    private func control(_ arguments: [String], section: String) async throws {
        _ = try await ChildCommand(command: ["callgrind_control"] + arguments).output(
            outputPath: SecureFile.join(directory, "\(section).callgrind_control.out"))
    }
}
