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

    /// The lines of a ``gathering(_:)`` in progress on this task, as the bytes to write; `nil` once written.
    private final class Gathered: Sendable {
        let bytes = Mutex<[UInt8]?>([])
        /// Where the lines go (standard output but in tests).
        let descriptor: Int32

        init(descriptor: Int32) {
            self.descriptor = descriptor
        }
    }

    @TaskLocal private static var gathered: Gathered?

    /// Writes one line to standard output and flushes it, or, inside ``gathering(_:)``, adds it to the lines written
    /// when that ends.
    public static func line(_ text: String) {
        let escaped = ControlCharacters.escaped(text)
        guard let gathered else { return emit(escaped + "\n", to: STDOUT_FILENO) }
        let added = gathered.bytes.withLock { bytes in
            guard bytes != nil else { return false }
            bytes?.append(contentsOf: escaped.utf8)
            bytes?.append(UInt8(ascii: "\n"))
            return true
        }
        // A task started inside a gathering inherits it, and may write after it has ended: then as any line.
        if !added { emit(escaped + "\n", to: gathered.descriptor) }
    }

    /// Runs `body`, and writes the lines it wrote with ``line(_:)`` on this task together, in one `write(2)`, when it
    /// returns or throws: a task that shows several lines at once (a batch of messages, a step and its details) asks
    /// the kernel once. Lines written by other tasks meanwhile go out as before, never inside these.
    public static func gathering<T>(_ body: () throws -> T) rethrows -> T {
        try gathering(into: STDOUT_FILENO, body)
    }

    /// ``gathering(_:)``, writing to `descriptor` (tests give a socket).
    static func gathering<T>(into descriptor: Int32, _ body: () throws -> T) rethrows -> T {
        // Nested: the outermost writes them all.
        if gathered != nil { return try body() }
        let lines = Gathered(descriptor: descriptor)
        defer {
            let bytes = lines.bytes.withLock { bytes in
                defer { bytes = nil }
                return bytes ?? []
            }
            if !bytes.isEmpty { bytes.withUnsafeBytes { emit($0, to: descriptor) } }
        }
        return try $gathered.withValue(lines) { try body() }
    }

    /// Writes a prompt without a line break.
    public static func prompt(_ text: String) {
        emit(ControlCharacters.escaped(text), to: STDOUT_FILENO)
    }

    /// Writes one line to standard error.
    public static func error(_ text: String) {
        emit(ControlCharacters.escaped(text) + "\n", to: STDERR_FILENO)
    }

    /// One `write(2)` per line (or per gathering) under a lock, so lines from concurrent tasks never interleave.
    private static func emit(_ text: String, to descriptor: Int32) {
        var text = text
        // The string's own UTF-8 storage, not a copy of it.
        text.withUTF8 { emit(UnsafeRawBufferPointer($0), to: descriptor) }
    }

    private static func emit(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) {
        lock.withLock { _ in
            var rest = bytes
            while !rest.isEmpty {
                let written = write(descriptor, rest.baseAddress, rest.count)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                rest = UnsafeRawBufferPointer(rebasing: rest[written...])
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
