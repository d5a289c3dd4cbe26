import Foundation

/// What CUHK timestamps for a receipt: a short canonical text naming the report, whose SHA-256 is the token's message
/// imprint.
///
/// ```
/// CampusPKI timestamped report
/// version: 1
/// sid: 1155123456
/// assignment: a1
/// report: 7
/// sha256: 90b9283ae81b01f4e641759471df0b14885f7c23ecc260ee12c176953f480ee0
/// ```
///
/// Each line ends with one LF, the last included; the values are written as in the receipt document (section 5.8 of
/// docs/PROTOCOL.md). Blackboard knows all four values before it signs the receipt (it reserves the report's number
/// first), so the token can be asked for, and its `genTime` can decide the receipt's `committed` time and status,
/// before the signature. A verifier recomputes the text from the receipt's own fields: a token over any other report,
/// student, assignment or number does not match.
public struct TimestampedReport: Sendable, Hashable {
    /// The first line.
    public static let title = "CampusPKI timestamped report"
    /// The version of this text.
    public static let currentVersion = 1

    /// The student's 10-digit ID.
    public let studentID: String
    /// The assignment.
    public let assignment: String
    /// Blackboard's number for the report.
    public let report: UInt64
    /// The SHA-256 of the report's content (32 bytes).
    public let contentSHA256: [UInt8]

    /// The text for these values. They are not checked here: a receipt document's fields are valid already.
    public init(studentID: String, assignment: String, report: UInt64, contentSHA256: [UInt8]) {
        self.studentID = studentID
        self.assignment = assignment
        self.report = report
        self.contentSHA256 = contentSHA256
    }

    /// The text for a receipt's report, from the receipt's fields.
    public init(receipt: ReceiptDocument) {
        self.init(
            studentID: receipt.studentID, assignment: receipt.assignment, report: receipt.report,
            contentSHA256: receipt.contentSHA256)
    }

    /// The canonical text.
    public var canonicalText: String {
        [
            Self.title, "version: \(Self.currentVersion)", "sid: \(studentID)", "assignment: \(assignment)",
            "report: \(report)", "sha256: \(contentSHA256.hexString)",
        ].map { $0 + "\n" }.joined()
    }

    /// The canonical text as UTF-8: the bytes whose SHA-256 CUHK timestamps (`openssl ts -verify -data FILE`).
    public var canonicalBytes: [UInt8] { Array(canonicalText.utf8) }

    /// The message imprint a token over this report carries: SHA-256 of ``canonicalBytes``.
    public var imprint: MessageImprint { MessageImprint(of: canonicalBytes, hashAlgorithm: .sha256) }
}
