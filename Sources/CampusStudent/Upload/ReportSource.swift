import CampusPKI

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

    /// The seed's ten messages, `This is No.1 Message.` … `This is No.10 Message.`
    public static let seedMessages = (1...10).map { "This is No.\($0) Message." }

    /// The messages' contents, produced lazily so a large file is never read whole.
    ///
    /// - Throws: ``StudentError/local(_:)`` when the file cannot be opened.
    public func contents() throws -> AnySequence<[UInt8]> {
        switch self {
        case .messages(let texts):
            return AnySequence(texts.lazy.map { Array($0.utf8) })
        case .standardInput:
            return AnySequence(AnyIterator { readLine(strippingNewline: true).map { Array($0.utf8) } })
        case .file(let path, let pieceSize):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StudentError.local("cannot open \(path): \(String(cString: strerror(errno)))") }
            let reader = PieceReader(fd: fd, pieceSize: pieceSize)
            return AnySequence(AnyIterator { reader.next() })
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
