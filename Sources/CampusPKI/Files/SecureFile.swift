#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes files so that a crash never leaves half a file, and a private key is never overwritten.
///
/// The bytes go to a temporary file in the same directory (created with `O_EXCL` and the final mode, so a key
/// is never readable by others even for a moment), are flushed with `fsync`, and are then published under the
/// final name: with `link(2)` when the file must not exist yet (it fails instead of replacing), or `rename(2)`
/// when replacing is allowed. The directory is synced so the new name survives a power loss.
public enum SecureFile {
    /// Permissions for private keys: owner read/write only.
    public static let privateMode: mode_t = 0o600
    /// Permissions for certificates and other public files.
    public static let publicMode: mode_t = 0o644

    /// Writes `bytes` to `path`.
    ///
    /// - Parameters:
    ///   - bytes: The content.
    ///   - path: The final path.
    ///   - mode: The file's permissions.
    ///   - replacing: Whether an existing file may be replaced. Never `true` for a private key.
    /// - Throws: ``FileError`` naming the path and the system's reason; `alreadyExists` if `replacing` is false and
    ///   the path exists.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t, replacing: Bool) throws {
        let directory = parentDirectory(of: path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError.system("create \(temporary)", errno) }
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(temporary)
        }
        // The umask may have narrowed the mode given to open(2); set it exactly.
        guard fchmod(fd, mode) == 0 else { throw FileError.system("chmod \(temporary)", errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw FileError.system("write \(temporary)", errno)
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw FileError.system("fsync \(temporary)", errno) }
        close(fd)
        closed = true
        if replacing {
            guard rename(temporary, path) == 0 else { throw FileError.system("rename to \(path)", errno) }
        } else {
            guard posixLink(temporary, path) == 0 else {
                if errno == EEXIST { throw FileError.alreadyExists(path) }
                throw FileError.system("link \(path)", errno)
            }
        }
        syncDirectory(directory)
    }

    /// Writes UTF-8 text; see ``write(_:to:mode:replacing:)``.
    public static func write(_ text: String, to path: String, mode: mode_t, replacing: Bool) throws {
        try write(Array(text.utf8), to: path, mode: mode, replacing: replacing)
    }

    /// Reads a whole file as UTF-8 text, or `nil` if it does not exist.
    ///
    /// - Throws: ``FileError`` for any other failure, or if the file is larger than `limit` bytes.
    public static func readText(at path: String, limit: Int = 1 << 20) throws -> String? {
        guard let bytes = try readBytes(at: path, limit: limit) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw FileError.notText(path) }
        return text
    }

    /// Reads a whole file, up to `limit` bytes.
    ///
    /// - Returns: The bytes, or `nil` when the file does not exist.
    /// - Throws: ``FileError`` when it cannot be read or is larger than `limit`.
    public static func readBytes(at path: String, limit: Int = 1 << 20) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileError.system("open \(path)", errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError.system("read \(path)", errno)
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            if bytes.count > limit { throw FileError.tooLarge(path, limit) }
        }
        return bytes
    }

    /// Whether something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// What tells one version of a file from another without reading it: device, inode, size and modification
    /// time (one `stat(2)`); `nil` when there is no file.
    public static func identity(of path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
            let modified = info.st_mtimespec
        #else
            let modified = info.st_mtim
        #endif
        return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), Int(modified.tv_sec), Int(modified.tv_nsec)]
    }

    /// The permission bits of the file at `path`.
    public static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }

    /// Creates `path` and its parents (mode 0700) if they are missing.
    public static func createDirectory(_ path: String) throws {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/\(component)"
            if mkdir(partial, 0o700) != 0, errno != EEXIST {
                throw FileError.system("mkdir \(partial)", errno)
            }
        }
    }

    /// Moves a file aside under a new name that does not exist yet; used to keep an old key on renewal.
    public static func moveAside(_ path: String, to newPath: String) throws {
        guard posixLink(path, newPath) == 0 else { throw FileError.system("link \(newPath)", errno) }
        guard unlink(path) == 0 else { throw FileError.system("unlink \(path)", errno) }
        syncDirectory(parentDirectory(of: path))
    }

    /// Renames `path` to `newPath`, replacing what is there in one step (`rename(2)`); syncs the directory.
    public static func replace(_ newPath: String, with path: String) throws {
        guard rename(path, newPath) == 0 else { throw FileError.system("rename \(path) to \(newPath)", errno) }
        syncDirectory(parentDirectory(of: newPath))
    }

    /// Removes the file at `path`, if there is one; syncs the directory.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw FileError.system("unlink \(path)", errno) }
        syncDirectory(parentDirectory(of: path))
    }

    /// Gives the file at `path` a second name, `newPath`, which must not exist yet; syncs the directory.
    ///
    /// - Throws: ``FileError/alreadyExists(_:)`` when `newPath` exists.
    public static func link(_ path: String, to newPath: String) throws {
        guard posixLink(path, newPath) == 0 else {
            if errno == EEXIST { throw FileError.alreadyExists(newPath) }
            throw FileError.system("link \(newPath)", errno)
        }
        syncDirectory(parentDirectory(of: newPath))
    }

    /// Proves that this process can create files in `directory` (by creating and removing one).
    ///
    /// `access(2)` would say yes to root even on a read-only mount; a real file says what the programs will meet.
    public static func checkWritable(directory: String) throws {
        let probe = join(directory, ".write-check-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.system("create a file in \(directory)", errno) }
        close(fd)
        unlink(probe)
    }

    /// Refuses a private key file that others may read or write, unless `allowed`.
    ///
    /// - Throws: ``FileError/insecurePermissions(_:_:)`` with the fix.
    public static func checkPrivate(_ path: String, allowed: Bool = false) throws {
        guard !allowed, let mode = mode(of: path), mode & 0o077 != 0 else { return }
        throw FileError.insecurePermissions(path, mode)
    }

    /// Joins a directory and a file name.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    public static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

// `SecureFile.write` and `SecureFile.link` hide the C functions inside the type; these names reach them.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func posixLink(_ path: String, _ newPath: String) -> Int32 {
    link(path, newPath)
}

/// A file could not be read or written.
public enum FileError: Error, Sendable, Equatable, CustomStringConvertible {
    case alreadyExists(String)
    case tooLarge(String, Int)
    case notText(String)
    case system(String, Int32)
    case insecurePermissions(String, mode_t)

    public var description: String {
        switch self {
        case .alreadyExists(let path): "\(path) already exists and is not replaced"
        case .tooLarge(let path, let limit): "\(path) is larger than \(limit) bytes"
        case .notText(let path): "\(path) is not UTF-8 text"
        case .system(let action, let code): "\(action): \(String(cString: strerror(code)).lowercased())"
        case .insecurePermissions(let path, let mode):
            "\(path) is a private key that others may read (mode 0\(String(mode, radix: 8))); "
                + "run `chmod 600 \(path)`, or pass --allow-insecure-key-permissions"
        }
    }
}
