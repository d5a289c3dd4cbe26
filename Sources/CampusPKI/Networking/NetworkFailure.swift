import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Plain words for why a connection failed, for people who have never heard of NIO or errno.
///
/// The library's own error text (type names, `errno: 111`, source positions) stays in the log; the person at the
/// terminal reads "connection refused".
public enum NetworkFailure {
    /// A few words for `error`: "connection refused", "connection reset", "timed out", …
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                return "the host name cannot be resolved"
            }
            // Every address tried failed; the first failure speaks for them (they agree in practice).
            return error.connectionErrors.first.map { describe($0.error) } ?? "the host name cannot be resolved"
        case let error as IOError:
            return describe(errno: error.errnoCode)
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return "no answer to the connection attempt: timed out"
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof:
                return "the connection was already closed"
            default: return "the connection failed"
            }
        case let error as CampusError:
            return error.reason
        default:
            return "the connection failed"
        }
    }

    /// A few words for a system error number.
    public static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection refused"
        case ECONNRESET: "connection reset by the other side"
        case EPIPE: "the other side closed the connection"
        case ETIMEDOUT: "timed out"
        case EHOSTUNREACH: "host unreachable"
        case ENETUNREACH: "network unreachable"
        case EADDRINUSE: "address already in use"
        case EADDRNOTAVAIL: "address not available on this machine"
        case EACCES, EPERM: "permission denied"
        case EMFILE, ENFILE: "too many open files"
        default: String(cString: strerror(code)).lowercased()
        }
    }
}
