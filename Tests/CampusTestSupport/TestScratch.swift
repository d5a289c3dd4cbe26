import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The tests' scratch directories: each is made inside one directory of the test process
/// (`$TMPDIR/campuspki-tests-PID-XXXXXX`, mode 0700), which is removed with everything in it when the process exits.
///
/// A process that crashes or is killed leaves that one directory, named after its process.
public enum TestScratch {
    /// A new, empty directory (mode 0700) whose name starts with `prefix`.
    ///
    /// - Throws: `POSIXError` when it cannot be made.
    public static func makeDirectory(_ prefix: String) throws -> String {
        let root = try root.get()
        var template = Array("\(root)/\(prefix)-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return String(cString: path)
    }

    /// The process's directory, made once; its removal is registered with `atexit` when it is made.
    private static let root: Result<String, POSIXError> = {
        let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        var template = Array("\(base)campuspki-tests-\(getpid())-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { return .failure(POSIXError(.init(rawValue: errno) ?? .EIO)) }
        let root = String(cString: path)
        atexit { TestScratch.removeRoot() }
        return .success(root)
    }()

    /// Removes the process's directory. Directories a test made read-only are made writable first, so that nothing
    /// inside is left behind when the tests run as an ordinary user.
    private static func removeRoot() {
        guard case .success(let root) = root else { return }
        let files = FileManager.default
        chmod(root, 0o700)
        if let walk = files.enumerator(atPath: root) {
            for case let relative as String in walk {
                let path = root + "/" + relative
                var status = stat()
                if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
                    chmod(path, 0o700)
                }
            }
        }
        try? files.removeItem(atPath: root)
    }
}
