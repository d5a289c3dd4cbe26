import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A program started with `posix_spawn`, for the benchmark's servers and the tests' programs.
///
/// Foundation's `Process.run()` on Linux (Swift 6.3) reads past the end of a directory entry while it lists
/// `/proc/self/fd`, and now and then crashes the launching process with a bad pointer dereference; a test suite
/// that starts many programs met it about one run in five. This starts the program directly: its standard streams
/// from and to files, every other descriptor closed in the child, signals at their defaults, in a process group of
/// its own (as `Process` does, so a terminal's Ctrl-C reaches the parent only).
public final class ChildProcess: Sendable {
    /// How a program ended.
    public enum Termination: Sendable, Equatable {
        /// It exited with this status.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        /// The exit status, or the signal's number for a program a signal ended (as Foundation's `Process` reported
        /// it).
        public var statusOrSignal: Int32 {
            switch self {
            case .exited(let status): status
            case .signalled(let signal): signal
            }
        }
    }

    /// Where one of the program's standard streams goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A file: read for standard input; created or truncated, mode 0600, for output.
        case file(String)
        /// One of this process's descriptors (a pseudo-terminal, say), duplicated into the child.
        case descriptor(Int32)
        /// Standard error only: where standard output goes.
        case standardOutput
    }

    /// A program could not be started.
    public struct LaunchError: Error, CustomStringConvertible {
        public var path: String
        public var code: Int32

        public var description: String { "cannot start \(path): \(String(cString: strerror(code)))" }
    }

    /// The process ID.
    public let pid: pid_t
    /// The program's path, for messages.
    public let path: String
    private let ended = Mutex<Termination?>(nil)

    private init(pid: pid_t, path: String) {
        self.pid = pid
        self.path = path
    }

    /// Starts `path` with `arguments`.
    ///
    /// - Parameters:
    ///   - path: The executable.
    ///   - arguments: Its arguments (not counting its name, which is `path`).
    ///   - environment: Its whole environment; this process's when `nil`.
    ///   - directory: Its working directory; this process's when `nil`.
    ///   - standardInput, standardOutput, standardError: Where its standard streams come from and go.
    /// - Throws: ``LaunchError``.
    public static func launch(
        _ path: String, arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil,
        standardInput: Stream = .null, standardOutput: Stream = .null, standardError: Stream = .null
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        func check(_ result: Int32) throws {
            guard result == 0 else { throw LaunchError(path: path, code: result) }
        }
        for (target, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch stream {
            case .null:
                try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_RDWR, 0))
            case .file(let file):
                let flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                try check(posix_spawn_file_actions_addopen(&actions, target, file, flags, 0o600))
            case .descriptor(let descriptor):
                try check(posix_spawn_file_actions_adddup2(&actions, descriptor, target))
            case .standardOutput:
                try check(posix_spawn_file_actions_adddup2(&actions, 1, target))
            }
        }
        // Descriptors this process holds (listening sockets, databases) must not live on in the child.
        if let closeFrom = Self.closeFrom {
            try check(closeFrom(&actions, 3))
        }
        var executable = path
        var argv = [path] + arguments
        if let directory {
            if let changeDirectory = Self.changeDirectory {
                try check(changeDirectory(&actions, directory))
            } else {
                // Without posix_spawn_file_actions_addchdir_np: env(1) changes the directory, then runs the program.
                executable = "/usr/bin/env"
                argv = ["env", "--chdir=\(directory)", path] + arguments
            }
        }

        var signals = sigset_t()
        sigemptyset(&signals)
        try check(posix_spawnattr_setsigmask(&attributes, &signals))
        // Signals this process ignores (SIGPIPE, for one) are ignored by its children too unless reset.
        var all = sigset_t()
        sigfillset(&all)
        try check(posix_spawnattr_setsigdefault(&attributes, &all))
        try check(posix_spawnattr_setpgroup(&attributes, 0))
        try check(
            posix_spawnattr_setflags(
                &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)))

        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid = pid_t()
        let result = withCStrings(argv) { argvPointers in
            withCStrings(environmentLines) { environmentPointers in
                posix_spawn(&pid, executable, &actions, &attributes, argvPointers, environmentPointers)
            }
        }
        try check(result)
        return ChildProcess(pid: pid, path: path)
    }

    /// How the program ended, if it has; reaps it the first time.
    public var termination: Termination? {
        ended.withLock { ended in
            if let ended { return ended }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid else { return nil }
            ended = Self.termination(from: status)
            return ended
        }
    }

    /// Whether the program still runs.
    public var isRunning: Bool { termination == nil }

    /// Sends a signal (nothing once the program has ended and was reaped).
    public func signal(_ number: Int32) {
        guard isRunning else { return }
        kill(pid, number)
    }

    /// Waits for the program to end.
    public func wait(pollingEvery interval: Duration = .milliseconds(10)) async -> Termination {
        while true {
            if let termination { return termination }
            try? await Task.sleep(for: interval)
        }
    }

    /// Waits for the program to end, blocking this thread.
    public func waitBlocking() -> Termination {
        ended.withLock { ended in
            if let ended { return ended }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
            ended = Self.termination(from: status)
            return ended!
        }
    }

    /// Runs `path` to its end with standard output and error in one file, and returns both with how it ended.
    ///
    /// - Throws: ``LaunchError``.
    public static func capture(
        _ path: String, arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil
    ) throws -> (termination: Termination, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("campuspki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let child = try launch(
            path, arguments: arguments, environment: environment, directory: directory, standardOutput: .file(file),
            standardError: .standardOutput)
        let termination = child.waitBlocking()
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return (termination, output)
    }

    private static func termination(from status: Int32) -> Termination {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    private typealias FileActionsCloseFrom =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32)
        -> Int32
    private typealias FileActionsChangeDirectory =
        @convention(c) (
            UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>
        ) -> Int32

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, which Swift's Glibc module does not declare.
    private static let closeFrom: FileActionsCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    /// glibc 2.29's `posix_spawn_file_actions_addchdir_np`.
    private static let changeDirectory: FileActionsChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
