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

    /// The single text every program uses when a student ID is not valid.
    public static let requirement = "a student ID is exactly 10 digits (0-9), for example 1155123456"

    public static func < (lhs: StudentID, rhs: StudentID) -> Bool { lhs.rawValue < rhs.rawValue }
}
