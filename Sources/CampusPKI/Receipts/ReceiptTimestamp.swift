import Foundation

/// A receipt verified by ``SignedReceipt/verify(_:root:blackboardName:content:)``.
public typealias VerifiedReceipt = SignedReceipt.VerifiedReceipt

extension ReceiptDocument {
    /// A time as receipts, deadlines and step 4 write it: ISO-8601 UTC with whole seconds, `2026-12-01T23:59:59Z`.
    public static func timestamp(_ date: Date) -> String {
        ReceiptTime.format(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
    }

    /// A time as CUHK's tokens state it: ISO-8601 UTC to the millisecond, without trailing zeros
    /// (`2026-11-28T01:02:03.5Z`).
    public static func preciseTimestamp(_ date: Date) -> String {
        TimestampTime.format(date)
    }

    /// Reads a time written as ``timestamp(_:)`` writes it.
    public static func parseTimestamp(_ text: String) -> Date? {
        ReceiptTime.parse(text)
    }
}
