/// Why the Student refused to believe the peer is CUHK. Each ``Check`` is named in the message; when one fails, the
/// Student has sent nothing but its hello, so no code is used.
public struct AuthorityAuthenticationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The checks of the enrollment offer, in the order the Student makes them (docs/PROTOCOL.md section 4.2).
    public enum Check: String, Sendable, CaseIterable {
        case root
        case certificate
        case issuer
        case validity
        case serverAuth = "server-auth"
        case name
        case key
        case signature
    }

    public var check: Check
    public var reason: String

    public init(_ check: Check, _ reason: String) {
        self.check = check
        self.reason = reason
    }

    public var description: String { "CUHK failed the \(check.rawValue) check: \(reason)" }
}
