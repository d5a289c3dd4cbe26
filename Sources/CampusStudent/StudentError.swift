import CampusPKI

/// Why the Student stopped. Each case has its own exit code (README, "Exit codes").
///
/// The messages are written for a student who has never heard of NIO or errno: what happened, at which address,
/// and what to check. ``fromConnection(_:server:)`` is the one place that turns a connection's errors into them.
public enum StudentError: Error, Sendable, CustomStringConvertible {
    /// CUHK answered with an error.
    case refusedByCUHK(CampusError)
    /// Blackboard answered with an error.
    case refusedByBlackboard(CampusError)
    /// A server could not be reached, closed the connection or stayed silent.
    case network(String)
    /// A server answered something that fails the Student's own checks.
    case invalidResponse(String)
    /// A local file or input is missing, unreadable or unusable.
    case local(String)
    /// The peer at Blackboard's address could not prove it is Blackboard; nothing of the report was sent.
    case blackboardNotAuthenticated(BlackboardAuthenticationError)
    /// The peer at CUHK's address could not prove it is CUHK, or its root is not the one this Student trusts;
    /// nothing secret was sent, so no code was used. `advice` says how to recover.
    case authorityNotAuthenticated(AuthorityAuthenticationError, advice: String)

    /// The server a conversation is with, for messages.
    public struct Server: Sendable, CustomStringConvertible {
        /// `CUHK` or `Blackboard`.
        public var name: String
        public var address: ServerAddress
        /// The program that serves it, `cuhk` or `blackboard`.
        public var program: String
        /// The option that sets its address.
        public var option: String
        /// What this Student sends it first, and what the other server expects instead.
        var otherName: String

        public static func cuhk(_ address: ServerAddress) -> Server {
            Server(name: "CUHK", address: address, program: "cuhk", option: "--ca", otherName: "Blackboard")
        }

        public static func blackboard(_ address: ServerAddress) -> Server {
            Server(
                name: "Blackboard", address: address, program: "blackboard", option: "--blackboard",
                otherName: "CUHK")
        }

        public var description: String { "\(name) at \(address)" }
    }

    /// The process exit code for this failure.
    public var exitCode: Int32 {
        switch self {
        case .local: 1
        case .refusedByCUHK: 3
        case .refusedByBlackboard: 4
        case .network: 5
        case .invalidResponse, .authorityNotAuthenticated: 6
        case .blackboardNotAuthenticated: 7
        }
    }

    public var description: String {
        switch self {
        case .refusedByCUHK(let error): "CUHK refused: \(error.reason) [\(error.code.name)]"
        case .refusedByBlackboard(let error): "Blackboard refused: \(error.reason) [\(error.code.name)]"
        case .network(let reason): reason
        case .invalidResponse(let reason): reason
        case .local(let reason): reason
        case .blackboardNotAuthenticated(let error):
            "\(error); the session ended before any of the report was sent"
        case .authorityNotAuthenticated(let error, let advice):
            "\(error). Nothing secret was sent, so no enrollment code was used. \(advice)"
        }
    }

    /// Classifies an error raised while talking to a server.
    static func fromConnection(_ error: any Error, server: Server) -> StudentError {
        switch error {
        case let error as StudentError:
            return error
        case let error as ConnectError:
            return .network(
                "cannot reach \(server) (\(error.reason)): is \(server.program) running there? see \(server.option)")
        case let error as CampusError:
            switch error.code {
            // A frame cut short is a server that stopped mid-answer: something that is not CampusPKI is told by its
            // first bytes (a length beyond the limit, another version, an unknown type).
            case .connectionClosed, .timeout, .truncatedFrame:
                return .network("\(server): \(error.reason)")
            case .frameTooLarge, .unsupportedVersion, .unknownMessageType, .malformedMessage:
                return .invalidResponse(
                    "the server at \(server.address) does not speak the CampusPKI protocol (\(error.reason)); "
                        + "is \(server.option) the address of \(server.name)?")
            default:
                return .invalidResponse("\(server): \(error.reason)")
            }
        default:
            return .network("\(server): \(NetworkFailure.describe(error))")
        }
    }

    /// The error for a refusal from `server`.
    ///
    /// Each server takes the Student's first message from anyone, so `unexpected-message` in answer to it means
    /// the address is another server's (CUHK's and Blackboard's first messages differ).
    static func refusal(_ error: CampusError, by server: Server, answeringFirstMessage: Bool = false) -> StudentError {
        if answeringFirstMessage, error.code == .unexpectedMessage {
            return .invalidResponse(
                "the server at \(server.address) is not \(server.name) (it answered \"\(error.reason)\"; "
                    + "it looks like \(server.otherName)); check \(server.option)")
        }
        return server.name == "CUHK" ? .refusedByCUHK(error) : .refusedByBlackboard(error)
    }
}
