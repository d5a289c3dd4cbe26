import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Lines for people, on standard output, flushed at once so scripts and tests reading a pipe see them.
///
/// Logs go to standard error through swift-log; what the seed printed goes here. Every line is one line: control
/// characters in it (which can only have come from a peer or a file) are escaped, see ``ControlCharacters``.
public enum Terminal {
    private static let lock = Mutex<Void>(())

    /// Writes one line to standard output and flushes it.
    public static func line(_ text: String) {
        emit(ControlCharacters.escaped(text) + "\n", to: STDOUT_FILENO)
    }

    /// Writes a prompt without a line break.
    public static func prompt(_ text: String) {
        emit(ControlCharacters.escaped(text), to: STDOUT_FILENO)
    }

    /// Writes one line to standard error.
    public static func error(_ text: String) {
        emit(ControlCharacters.escaped(text) + "\n", to: STDERR_FILENO)
    }

    /// One `write(2)` per line under a lock, so lines from concurrent tasks never interleave.
    private static func emit(_ text: String, to descriptor: Int32) {
        lock.withLock { _ in
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                bytes = bytes.dropFirst(written)
            }
        }
    }

    /// A reporter that prints `[Step N] text`, optionally after a role label.
    public static func reporter(role: String? = nil) -> StepReporter {
        { step, text in
            line("\(role.map { "[\($0)] " } ?? "")[\(step)] \(text)")
        }
    }
}
