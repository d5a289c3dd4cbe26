import CampusPKI

/// Why the Student stopped. Each case has its own exit code (README, "Exit codes").
public enum StudentError: Error, Sendable, CustomStringConvertible {
    /// CUHK answered with an error.
    case refusedByCUHK(CampusError)
    /// Blackboard answered with an error.
    case refusedByBlackboard(CampusError)
    /// A server could not be reached, closed the connection or stayed silent.
    case network(String)
    /// A server answered something that fails the Student's own checks.
    case invalidResponse(String)
    /// A local file could not be read or written.
    case local(String)

    /// The process exit code for this failure.
    public var exitCode: Int32 {
        switch self {
        case .local: 1
        case .refusedByCUHK: 3
        case .refusedByBlackboard: 4
        case .network: 5
        case .invalidResponse: 6
        }
    }

    public var description: String {
        switch self {
        case .refusedByCUHK(let error): "CUHK refused: \(error.reason) [\(error.code.name)]"
        case .refusedByBlackboard(let error): "Blackboard refused: \(error.reason) [\(error.code.name)]"
        case .network(let reason): "network error: \(reason)"
        case .invalidResponse(let reason): "invalid response: \(reason)"
        case .local(let reason): reason
        }
    }

    /// Classifies an error raised while talking to a server.
    static func fromConnection(_ error: any Error, server: String) -> StudentError {
        switch error {
        case let error as StudentError:
            return error
        case let error as CampusError where error.code == .connectionClosed || error.code == .timeout:
            return .network("\(server): \(error.reason)")
        case let error as CampusError:
            return .invalidResponse("\(server): \(error.reason)")
        default:
            return .network("\(server): \(error)")
        }
    }
}
