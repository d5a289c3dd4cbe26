/// A student ID: exactly ten decimal digits, as the seed's prompt asks for.
///
/// A `StudentID` can only be made valid, so code that holds one never checks it again.
public struct StudentID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The ten digits.
    public let rawValue: String

    /// Creates a student ID from text.
    ///
    /// - Parameter text: Exactly ten ASCII digits `0`–`9`; no spaces, signs or other digits.
    /// - Returns: `nil` when `text` is anything else.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        self.rawValue = String(text)
    }

    public var description: String { rawValue }

    /// The URI that names this student in cert 2's SubjectAlternativeName: `urn:campuspki:sid:<SID>`.
    ///
    /// The SID is in the subject's CN as well; the SAN is there because common X.509 libraries' client verifiers
    /// (Python's `cryptography`, for one) refuse a certificate without one.
    public var uri: String { Self.uriPrefix + rawValue }

    /// The prefix of ``uri``.
    public static let uriPrefix = "urn:campuspki:sid:"

    /// The single text every program uses when a student ID is not valid.
    public static let requirement = "a student ID is exactly 10 digits (0-9), for example 1155123456"

    public static func < (lhs: StudentID, rhs: StudentID) -> Bool { lhs.rawValue < rhs.rawValue }
}
