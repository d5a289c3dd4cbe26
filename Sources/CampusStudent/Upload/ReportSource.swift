import CampusPKI
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the report's messages come from: `--message` texts, a file cut into pieces, or standard input lines.
public enum ReportSource: Sendable {
    case messages([String])
    case file(path: String, pieceSize: Int)
    case standardInput

    /// Whether the messages come from standard input.
    public var isStandardInput: Bool {
        if case .standardInput = self { return true }
        return false
    }

    /// The seed's ten messages, `This is No.1 Message.` … `This is No.10 Message.`
    public static let seedMessages = (1...10).map { "This is No.\($0) Message." }

    /// Checks, before anything is sent, that the input can be used: the file exists, is a regular file and can be
    /// read and is not empty (unless `allowsEmpty`), and every `--message` fits `maximumMessageSize`.
    ///
    /// - Throws: ``StudentError/local(_:)`` saying what is wrong.
    public func check(maximumMessageSize: Int, allowsEmpty: Bool = false) throws {
        switch self {
        case .messages(let texts):
            for (index, text) in texts.enumerated() where text.utf8.count > maximumMessageSize {
                throw Self.tooLarge(number: index + 1, size: text.utf8.count, limit: maximumMessageSize)
            }
        case .file(let path, _):
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw StudentError.local("cannot read --file \(path): \(String(cString: strerror(errno)).lowercased())")
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw StudentError.local("--file \(path) is not a regular file (a directory?); give the report's file")
            }
            guard access(path, R_OK) == 0 else {
                throw StudentError.local("cannot read --file \(path): \(String(cString: strerror(errno)).lowercased())")
            }
            guard info.st_size > 0 || allowsEmpty else {
                throw StudentError.local("--file \(path) is empty; nothing to upload (--allow-empty sends it anyway)")
            }
        case .standardInput:
            break
        }
    }

    /// The error for a message over the limit.
    static func tooLarge(number: Int, size: Int, limit: Int) -> StudentError {
        .local(
            "message \(number) is \(ByteCount.grouped(size)) bytes; the limit is \(ByteCount.describe(limit)); "
                + "use --file, which splits a file into messages")
    }

    /// The messages' contents, produced lazily so a large file is never read whole.
    ///
    /// - Throws: ``StudentError/local(_:)`` when the file cannot be opened.
    public func contents() throws -> AnySequence<[UInt8]> {
        switch self {
        case .messages(let texts):
            return AnySequence(texts.lazy.map { Array($0.utf8) })
        case .standardInput:
            // Each line keeps its line break, so the report is exactly the input.
            return AnySequence(AnyIterator { readLine(strippingNewline: false).map { Array($0.utf8) } })
        case .file(let path, let pieceSize):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StudentError.local("cannot open \(path): \(String(cString: strerror(errno)))") }
            let reader = PieceReader(fd: fd, pieceSize: pieceSize)
            return AnySequence(AnyIterator { reader.next() })
        }
    }

    /// A feed of the messages: standard input is read on its own thread, so the session can be kept alive while a
    /// person types.
    public func feed() throws -> any MessageFeed {
        switch self {
        case .standardInput: LineFeed()
        default: SequenceFeed(try contents())
        }
    }
}

extension ReportSource {
    /// A feed for each attempt of an upload, each from the first message: standard input is read once and what it
    /// gave is given again; a file or `--message` texts are read again.
    public func feeds() -> () throws -> any MessageFeed {
        guard isStandardInput else { return { try feed() } }
        let replaying = ReplayingFeed(LineFeed())
        return {
            replaying.rewind()
            return replaying
        }
    }
}

/// Reads a file descriptor in pieces of a fixed size; closes it at the end.
private final class PieceReader {
    private var fd: Int32
    private let pieceSize: Int

    init(fd: Int32, pieceSize: Int) {
        self.fd = fd
        self.pieceSize = max(pieceSize, 1)
    }

    deinit { if fd >= 0 { close(fd) } }

    func next() -> [UInt8]? {
        guard fd >= 0 else { return nil }
        var piece = [UInt8](repeating: 0, count: pieceSize)
        var filled = 0
        while filled < pieceSize {
            let count = piece[filled...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            filled += count
        }
        if filled == 0 {
            close(fd)
            fd = -1
            return nil
        }
        return Array(piece[..<filled])
    }
}
