import NIOCore

/// Follows the bytes of one HTTP/1.1 request head (request line, header fields, empty line) as they arrive, and
/// says when it is complete or over a limit, looking at each byte once.
///
/// It counts, it does not parse: NIO's decoder parses the head once this scanner has let it through. Empty lines
/// before the request line are skipped, as RFC 9112 section 2.2 allows.
public struct HTTPRequestHeadScanner: Sendable {
    /// What the bytes so far amount to.
    public enum Outcome: Sendable, Equatable {
        /// The head goes on.
        case incomplete
        /// The head ended within the limits.
        case complete
        /// The request line is over ``HTTPLimits/maximumRequestLineBytes``: 414.
        case requestLineTooLong
        /// The header fields are over ``HTTPLimits/maximumHeaderBytes`` or ``HTTPLimits/maximumHeaderFields``: 431.
        case headersTooLarge
    }

    private enum Position {
        case beforeRequestLine
        case requestLine
        case headerFields
        case done(Outcome)
    }

    private let limits: HTTPLimits
    private var position = Position.beforeRequestLine
    private var requestLineBytes = 0
    private var headerBytes = 0
    private var headerFields = 0
    /// Bytes of the current header line other than CR and LF.
    private var lineBytes = 0

    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Takes the next bytes of the connection.
    ///
    /// - Returns: The outcome so far; once it is not ``Outcome/incomplete`` it stays, and later bytes (a body, the
    ///   next request) are not looked at.
    public mutating func scan(_ bytes: ByteBufferView) -> Outcome {
        for byte in bytes {
            if case .done(let outcome) = position { return outcome }
            scan(byte)
        }
        if case .done(let outcome) = position { return outcome }
        return .incomplete
    }

    private mutating func scan(_ byte: UInt8) {
        let lineFeed: UInt8 = 0x0A
        let carriageReturn: UInt8 = 0x0D
        switch position {
        case .beforeRequestLine:
            guard byte != lineFeed, byte != carriageReturn else { return }
            position = .requestLine
            scan(byte)
        case .requestLine:
            if byte == lineFeed {
                position = .headerFields
            } else if byte != carriageReturn {
                requestLineBytes += 1
                if requestLineBytes > limits.maximumRequestLineBytes { position = .done(.requestLineTooLong) }
            }
        case .headerFields:
            headerBytes += 1
            if headerBytes > limits.maximumHeaderBytes {
                position = .done(.headersTooLarge)
            } else if byte == lineFeed {
                if lineBytes == 0 {
                    position = .done(.complete)
                } else {
                    lineBytes = 0
                    headerFields += 1
                    if headerFields > limits.maximumHeaderFields { position = .done(.headersTooLarge) }
                }
            } else if byte != carriageReturn {
                lineBytes += 1
            }
        case .done:
            return
        }
    }
}
