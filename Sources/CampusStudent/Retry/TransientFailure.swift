import CampusPKI
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure that another attempt through the same address may not meet: the connection could not be made or was
/// lost (also in the middle of a frame), the server stayed silent, or it answered `server-busy` (8) or
/// `shutting-down` (11). Anything the server decided about this student (authentication, certificates, codes,
/// quotas, validation, policy) is not one.
public struct TransientFailure: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// No connection could be made (refused, unreachable, no answer to the attempt).
        case notConnected
        /// The connection was closed or reset, or failed.
        case lost
        /// The server stayed silent longer than the timeout.
        case silent
        /// The server refused with `server-busy` or `shutting-down`.
        case refused(CampusError.Code)
    }

    public var kind: Kind
    /// A few words of this side's own (never the peer's text): "connection reset by the other side".
    public var reason: String

    public init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// The refusal codes a client may answer by trying again later.
    public static let retryableCodes: Set<CampusError.Code> = [.serverBusy, .shuttingDown]

    /// Classifies an error an attempt raised: `nil` when trying again is not safe or would not help.
    ///
    /// - Parameter error: A ``StudentError`` for a server's refusal, else what the connection threw: a
    ///   ``ConnectError``, a ``CampusError`` (`connection-closed`, `timeout`) or NIO's own.
    public static func of(_ error: any Error) -> TransientFailure? {
        switch error {
        case let error as StudentError:
            switch error {
            case .refusedByBlackboard(let refusal), .refusedByCUHK(let refusal):
                guard retryableCodes.contains(refusal.code) else { return nil }
                return TransientFailure(kind: .refused(refusal.code), reason: refusal.code.name)
            default:
                return nil
            }
        case let error as ConnectError:
            // A name that does not resolve will not resolve a second later.
            guard error.reason != unresolvedHost else { return nil }
            return TransientFailure(kind: .notConnected, reason: error.reason)
        case let error as CampusError:
            switch error.code {
            case .connectionClosed: return TransientFailure(kind: .lost, reason: lostReason(error.reason))
            // A server that stopped (or whose connection a load balancer cut) in the middle of sending a frame.
            case .truncatedFrame: return TransientFailure(kind: .lost, reason: "closed inside a frame")
            case .timeout: return TransientFailure(kind: .silent, reason: "no answer in time")
            case .serverBusy, .shuttingDown:
                return TransientFailure(kind: .refused(error.code), reason: error.code.name)
            default: return nil
            }
        case let error as IOError:
            guard [ECONNRESET, EPIPE, ECONNABORTED, ETIMEDOUT].contains(error.errnoCode) else { return nil }
            return TransientFailure(kind: .lost, reason: NetworkFailure.describe(error))
        case let error as ChannelError:
            switch error {
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof:
                return TransientFailure(kind: .lost, reason: NetworkFailure.describe(error))
            default: return nil
            }
        default:
            return nil
        }
    }

    /// What ``NetworkFailure/describe(_:)`` says of a host name that cannot be resolved.
    private static let unresolvedHost = "the host name cannot be resolved"

    /// The words in the last parentheses of a `connection-closed` reason ("the connection failed (connection reset
    /// by the other side)", "could not send a message (…)"), else the reason.
    private static func lostReason(_ reason: String) -> String {
        if reason == "the peer closed the connection" { return "closed by the other side" }
        guard reason.hasSuffix(")"), let open = reason.lastIndex(of: "(") else { return reason }
        return String(reason[reason.index(after: open)..<reason.index(before: reason.endIndex)])
    }

    /// A sentence for the terminal: `connection to Blackboard at HOST:PORT lost (connection reset by the other
    /// side)`.
    public func sentence(server: StudentError.Server) -> String {
        switch kind {
        case .notConnected: "cannot connect to \(server) (\(reason))"
        case .lost: "connection to \(server) lost (\(reason))"
        case .silent: "\(server) did not answer in time"
        case .refused(.serverBusy): "\(server) is busy (server-busy)"
        case .refused(.shuttingDown): "\(server) is shutting down (shutting-down)"
        case .refused(let code): "\(server) refused (\(code.name))"
        }
    }
}
