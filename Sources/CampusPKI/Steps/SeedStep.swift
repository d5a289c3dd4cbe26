/// The seed's steps 0–6. Programs label what they print with them, so a run reads like the seed.
public enum SeedStep: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// CUHK makes or loads its root key and certificate.
    case root = 0
    /// The Student makes a key pair and a CSR.
    case request = 1
    /// CUHK signs the CSR; the Student receives cert 2.
    case certificate = 2
    /// The Student sends `Request | Cert 2`; Blackboard verifies cert 2.
    case verification = 3
    /// Blackboard sends the session key, encrypted to cert 2.
    case sessionKey = 4
    /// The Student proves it decrypted the key.
    case confirmation = 5
    /// `content | HMAC` messages.
    case messages = 6

    public var description: String { "Step \(rawValue)" }

    /// What happens in the step, in a few words.
    public var title: String {
        switch self {
        case .root: "root key and certificate"
        case .request: "key pair and CSR"
        case .certificate: "cert 2"
        case .verification: "request and certificate check"
        case .sessionKey: "session key"
        case .confirmation: "key confirmation"
        case .messages: "messages"
        }
    }
}

/// Receives the lines a program shows in its terminal, each with its seed step.
public typealias StepReporter = @Sendable (SeedStep, String) -> Void
