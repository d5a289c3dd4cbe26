import Foundation

/// What Blackboard states about one uploaded report: the text that a signed receipt carries.
///
/// The document has a single canonical form, UTF-8 lines each ended by one LF, in a fixed order:
///
/// ```
/// CampusPKI submission receipt
/// protocol: 2
/// sid: 1155123456
/// certificate-serial: 5f0c…
/// assignment: lab-3
/// deadline: 2026-12-01T23:59:59Z
/// report: 42
/// messages: 3
/// bytes: 1234
/// sha256: 9f86d081…
/// committed: 2026-11-28T01:02:03Z
/// status: on-time
/// ```
///
/// `deadline` is the word `none` when the assignment has no deadline, and `status` is `on-time` or `late`. Times are
/// UTC with whole seconds. Receipts Blackboard signs now end with one or two more lines about CUHK's timestamp
/// (``TimestampClaim``):
///
/// ```
/// timestamp: cuhk
/// timestamp-token: MIIEtAYJKoZIhvcNAQcCoIIE…
/// ```
///
/// or `timestamp: none` when the receipt has no timestamp; receipts made before timestamps existed have neither line.
/// Parsing accepts exactly these three forms and nothing else, so the signed bytes and the document read from them
/// always say the same thing.
public struct ReceiptDocument: Sendable, Hashable {
    /// What the receipt says about a timestamp from CUHK.
    public enum TimestampClaim: Sendable, Hashable {
        /// `timestamp: cuhk` and `timestamp-token: <base64>`: CUHK's RFC 3161 token (DER) over the report's
        /// ``TimestampedReport``; `committed` is its `genTime` cut to whole seconds.
        case cuhk(token: [UInt8])
        /// `timestamp: none`: Blackboard signed without a timestamp (CUHK could not be reached, or Blackboard asks
        /// none); the time is Blackboard's claim only.
        case withoutTimestamp
    }

    /// The receipt protocol version this code writes and reads.
    public static let currentProtocolVersion = 2

    /// The first line of every receipt.
    public static let title = "CampusPKI submission receipt"

    /// The receipt protocol version.
    public let protocolVersion: Int
    /// The student's 10-digit ID.
    public let studentID: String
    /// The serial of the student's certificate (cert 2), as `Certificate.SerialNumber.hex` prints it.
    public let certificateSerial: String
    /// The assignment the report was handed in for.
    public let assignment: String
    /// The assignment's deadline, if it has one (whole seconds).
    public let deadline: Date?
    /// Blackboard's number for the report.
    public let report: UInt64
    /// How many messages the report has.
    public let messageCount: UInt64
    /// How many content bytes the report has, all messages together.
    public let totalBytes: UInt64
    /// The SHA-256 of the report's content (32 bytes).
    public let contentSHA256: [UInt8]
    /// When Blackboard stored the report (whole seconds).
    public let committedAt: Date
    /// Whether the report was stored after the deadline.
    public let isLate: Bool
    /// What the receipt says about CUHK's timestamp; `nil` for a receipt of the form before timestamps (no line).
    public let timestamp: TimestampClaim?

    /// Makes a document; `committedAt` and `deadline` are cut to whole seconds.
    ///
    /// - Throws: ``ReceiptError/malformedDocument(_:)`` when a field cannot be written in the canonical form: a
    ///   student ID that is not 10 digits, a serial that is not lower-case hex, an assignment name that
    ///   ``isValidAssignmentName(_:)`` refuses, a digest that is not 32 bytes, a time outside the years 1–9999, or a
    ///   timestamp token that is empty or larger than ``TimestampToken/maximumSize``.
    public init(
        protocolVersion: Int = ReceiptDocument.currentProtocolVersion, studentID: String, certificateSerial: String,
        assignment: String, deadline: Date?, report: UInt64, messageCount: UInt64, totalBytes: UInt64,
        contentSHA256: [UInt8], committedAt: Date, isLate: Bool, timestamp: TimestampClaim? = nil
    ) throws(ReceiptError) {
        guard protocolVersion == Self.currentProtocolVersion else {
            throw .malformedDocument(
                "the receipt protocol is \(protocolVersion), but only \(Self.currentProtocolVersion) is supported")
        }
        guard StudentID(studentID) != nil else {
            throw .malformedDocument("the student ID \"\(studentID)\" is not valid: \(StudentID.requirement)")
        }
        guard Self.isValidSerial(certificateSerial) else {
            throw .malformedDocument(
                "the certificate serial \"\(certificateSerial)\" is not lower-case hex with two digits a byte")
        }
        guard Self.isValidAssignmentName(assignment) else {
            throw .malformedDocument(
                "the assignment name \"\(assignment)\" is not valid: \(Self.assignmentRequirement)")
        }
        guard contentSHA256.count == 32 else {
            throw .malformedDocument("the content digest has \(contentSHA256.count) bytes; a SHA-256 has 32")
        }
        let committedAt = Self.wholeSeconds(committedAt)
        let deadline = deadline.map(Self.wholeSeconds)
        for time in [committedAt] + (deadline.map { [$0] } ?? []) {
            guard ReceiptTime.isRepresentable(time) else {
                throw .malformedDocument("the time \(time) is outside the years 0001–9999")
            }
        }
        if case .cuhk(let token) = timestamp, token.isEmpty || token.count > TimestampToken.maximumSize {
            throw .malformedDocument(
                "the timestamp token has \(token.count) bytes; a token has 1 to \(TimestampToken.maximumSize)")
        }
        self.protocolVersion = protocolVersion
        self.studentID = studentID
        self.certificateSerial = certificateSerial
        self.assignment = assignment
        self.deadline = deadline
        self.report = report
        self.messageCount = messageCount
        self.totalBytes = totalBytes
        self.contentSHA256 = contentSHA256
        self.committedAt = committedAt
        self.isLate = isLate
        self.timestamp = timestamp
    }

    /// Reads a document from its canonical bytes.
    ///
    /// - Throws: ``ReceiptError/malformedDocument(_:)`` naming the first line that is not as the canonical form
    ///   requires, or when the bytes are not exactly the canonical form of what they say.
    public init(parsing bytes: some Collection<UInt8>) throws(ReceiptError) {
        let bytes = Array(bytes)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .malformedDocument("the receipt text is not valid UTF-8")
        }
        guard text.utf8.last == UInt8(ascii: "\n") else {
            throw .malformedDocument("the receipt text does not end with a line break")
        }
        let lines = text.utf8.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.first == Self.title else {
            throw .malformedDocument("the first line is not \"\(Self.title)\"")
        }
        // Three forms: without a timestamp line (receipts made before timestamps), with `timestamp: none`, and with
        // `timestamp: cuhk` followed by the token.
        let keys: [String]
        switch lines.count {
        case Self.keys.count + 1: keys = Self.keys
        case Self.keys.count + 2: keys = Self.keys + [Self.timestampKey]
        case Self.keys.count + 3: keys = Self.keys + [Self.timestampKey, Self.tokenKey]
        default:
            throw .malformedDocument(
                "the receipt has \(lines.count) lines; a receipt has \(Self.keys.count + 1) to \(Self.keys.count + 3)")
        }
        var values: [String] = []
        for (key, line) in zip(keys, lines.dropFirst()) {
            let prefix = key + ": "
            guard line.hasPrefix(prefix) else {
                throw .malformedDocument("line \(values.count + 2) should start with \"\(prefix)\"")
            }
            values.append(String(line.dropFirst(prefix.count)))
        }
        func field(_ key: String) -> String { values[keys.firstIndex(of: key)!] }
        func number(_ key: String) throws(ReceiptError) -> UInt64 {
            guard let value = UInt64(field(key)) else {
                throw .malformedDocument("\(key) is not a whole number: \"\(field(key))\"")
            }
            return value
        }
        func time(_ key: String) throws(ReceiptError) -> Date {
            guard let value = ReceiptTime.parse(field(key)) else {
                throw .malformedDocument("\(key) is not a UTC time like 2026-11-28T01:02:03Z: \"\(field(key))\"")
            }
            return value
        }
        guard let protocolVersion = Int(field("protocol")) else {
            throw .malformedDocument("protocol is not a number: \"\(field("protocol"))\"")
        }
        guard let digest = Self.bytes(hex: field("sha256")), digest.count == 32 else {
            throw .malformedDocument("sha256 is not 64 lower-case hex digits: \"\(field("sha256"))\"")
        }
        let isLate: Bool
        switch field("status") {
        case "on-time": isLate = false
        case "late": isLate = true
        default: throw .malformedDocument("status is neither on-time nor late: \"\(field("status"))\"")
        }
        let deadline: Date? = field("deadline") == "none" ? nil : try time("deadline")
        var timestamp: TimestampClaim?
        if keys.contains(Self.timestampKey) {
            switch (field(Self.timestampKey), keys.contains(Self.tokenKey)) {
            case ("none", false):
                timestamp = .withoutTimestamp
            case ("cuhk", true):
                guard let token = Data(base64Encoded: field(Self.tokenKey)) else {
                    throw .malformedDocument("timestamp-token is not base64")
                }
                timestamp = .cuhk(token: Array(token))
            default:
                throw .malformedDocument(
                    "timestamp is neither \"none\" alone nor \"cuhk\" followed by a timestamp-token line")
            }
        }
        try self.init(
            protocolVersion: protocolVersion, studentID: field("sid"), certificateSerial: field("certificate-serial"),
            assignment: field("assignment"), deadline: deadline, report: try number("report"),
            messageCount: try number("messages"), totalBytes: try number("bytes"), contentSHA256: digest,
            committedAt: try time("committed"), isLate: isLate, timestamp: timestamp)
        // Numbers with leading zeros or a sign, and any other spelling that reads back differently, are refused.
        guard canonicalBytes == bytes else {
            throw .malformedDocument("the receipt text is not in canonical form (a field is written differently)")
        }
    }

    /// The keys of the lines after the title, in order.
    static let keys = [
        "protocol", "sid", "certificate-serial", "assignment", "deadline", "report", "messages", "bytes", "sha256",
        "committed", "status",
    ]
    static let timestampKey = "timestamp"
    static let tokenKey = "timestamp-token"

    /// The fields as (key, value) pairs, in the order of the canonical form, for printing. The token is its base64,
    /// as the receipt text has it (``summaryFieldLines()`` shortens it).
    public func fieldLines() -> [(String, String)] {
        let values = [
            String(protocolVersion), studentID, certificateSerial, assignment,
            deadline.map(ReceiptTime.format) ?? "none", String(report), String(messageCount), String(totalBytes),
            contentSHA256.hexString, ReceiptTime.format(committedAt), isLate ? "late" : "on-time",
        ]
        var lines = Array(zip(Self.keys, values))
        switch timestamp {
        case .none: break
        case .withoutTimestamp: lines.append((Self.timestampKey, "none"))
        case .cuhk(let token):
            lines.append((Self.timestampKey, "cuhk"))
            lines.append((Self.tokenKey, Data(token).base64EncodedString()))
        }
        return lines
    }

    /// The fields for a terminal or a page: as ``fieldLines()``, but the token as its size rather than its base64.
    public func summaryFieldLines() -> [(String, String)] {
        fieldLines().map { key, value in
            guard key == Self.tokenKey, case .cuhk(let token) = timestamp else { return (key, value) }
            return (key, "\(token.count) bytes (base64 in the receipt text)")
        }
    }

    /// The canonical text: the title and one `key: value` line per field, each ended by LF.
    public var canonicalText: String {
        ([Self.title] + fieldLines().map { "\($0.0): \($0.1)" }).map { $0 + "\n" }.joined()
    }

    /// The canonical text as UTF-8: the bytes a receipt signs.
    public var canonicalBytes: [UInt8] { Array(canonicalText.utf8) }

    /// What ``isValidAssignmentName(_:)`` asks for, in words.
    public static let assignmentRequirement =
        "an assignment name is 1 to 64 characters: letters a-z and A-Z, digits, '-', '_' and '.'"

    /// Whether `name` can name an assignment: 1–64 ASCII letters, digits, `-`, `_` and `.`.
    public static func isValidAssignmentName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                    true
                default: false
                }
            }
    }

    /// Whether `serial` is a serial as `Certificate.SerialNumber.hex` prints one: 1–20 bytes, lower-case hex.
    static func isValidSerial(_ serial: String) -> Bool {
        guard let bytes = bytes(hex: serial) else { return false }
        return (1...20).contains(bytes.count)
    }

    /// Lower-case hex, two digits a byte, back to bytes; `nil` for anything else.
    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}

/// UTC times as receipts write them: `YYYY-MM-DDTHH:MM:SSZ`.
enum ReceiptTime {
    /// Seconds from 1970 to 0001-01-01 and to 10000-01-01.
    private static let earliest: Int64 = -62_135_596_800
    private static let end: Int64 = 253_402_300_800

    static func isRepresentable(_ date: Date) -> Bool {
        let seconds = date.timeIntervalSince1970
        return seconds >= Double(earliest) && seconds < Double(end)
    }

    /// The time, cut to whole seconds; the year must be 1–9999 (see ``isRepresentable(_:)``).
    static func format(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = floorDivide(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-\(two(month))-\(two(day))T"
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }

    /// Reads exactly `YYYY-MM-DDTHH:MM:SSZ` with a real calendar date; `nil` otherwise.
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: 1) + day - 1
        // Day 31 of a 30-day month would land in the next month.
        guard day >= 1, civil(fromDays: days) == (year, month, day) else { return nil }
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day since 1970-01-01.
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
