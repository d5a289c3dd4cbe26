import Foundation

/// A student on CUHK's roster: who may enroll.
public struct RosterEntry: Sendable, Hashable {
    public var studentID: StudentID
    public var name: String
    public var email: String?

    public init(studentID: StudentID, name: String, email: String? = nil) {
        self.studentID = studentID
        self.name = name
        self.email = email
    }
}

/// Reads a roster CSV: a header `sid,name` with an optional `email` column, then one student per line.
///
/// It reads what spreadsheets write (RFC 4180 and its variants): UTF-8 with or without a byte order mark, UTF-16
/// with one, line ends LF or CRLF, fields in double quotes that hold commas, line breaks or doubled quotes (`""`),
/// `;` or a tab as the separator when the header line has no comma, spaces around fields, rows of empty fields and
/// empty lines (skipped), and header names in any case with spaces around them (`SID`, ` Name `, `E-mail`).
///
/// All rows or none: every bad row is reported with its line number, and nothing is imported while any is bad.
public enum RosterCSV {
    /// The roster's problems, each with its line number.
    public struct ImportError: Error, Sendable, CustomStringConvertible {
        public var problems: [(line: Int, problem: String)]

        public var description: String {
            "the roster was not imported; fix these lines and import it again:\n"
                + problems.map { "  line \($0.line): \($0.problem)" }.joined(separator: "\n")
        }
    }

    /// Parses a whole file as read from disk, in UTF-8 (a byte order mark is skipped) or in UTF-16 with a byte
    /// order mark.
    ///
    /// - Throws: ``ImportError`` with every problem found, or the line where the text is not UTF-8.
    public static func parse(bytes: [UInt8]) throws -> [RosterEntry] {
        try parse(try text(of: bytes))
    }

    /// Parses the whole file.
    ///
    /// - Throws: ``ImportError`` with every problem found.
    public static func parse(_ text: String) throws -> [RosterEntry] {
        let records = try self.records(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        guard let header = records.first else {
            throw ImportError(problems: [(1, "the file is empty; the first line must be the header sid,name")])
        }
        let names = header.fields.map { $0.lowercased() }
        guard let sidColumn = names.firstIndex(of: "sid"), let nameColumn = names.firstIndex(of: "name") else {
            throw ImportError(problems: [
                (header.line, "the header must name the columns sid and name (and optionally email)")
            ])
        }
        let emailColumn = names.firstIndex(of: "email") ?? names.firstIndex(of: "e-mail")
        var entries: [RosterEntry] = []
        var problems: [(line: Int, problem: String)] = []
        var seen: [StudentID: Int] = [:]
        for record in records.dropFirst() {
            let row = record.fields
            let number = record.line
            let sidText = sidColumn < row.count ? row[sidColumn] : ""
            let name = nameColumn < row.count ? row[nameColumn] : ""
            guard let studentID = StudentID(sidText) else {
                problems.append((number, "\"\(ControlCharacters.escaped(sidText))\": \(StudentID.requirement)"))
                continue
            }
            guard !name.isEmpty else {
                problems.append((number, "SID \(studentID) has no name"))
                continue
            }
            if let earlier = seen[studentID] {
                problems.append((number, "SID \(studentID) is already on line \(earlier)"))
                continue
            }
            seen[studentID] = number
            let email = emailColumn.flatMap { $0 < row.count && !row[$0].isEmpty ? row[$0] : nil }
            entries.append(RosterEntry(studentID: studentID, name: name, email: email))
        }
        guard problems.isEmpty else { throw ImportError(problems: problems) }
        return entries
    }

    /// One row of the file and the line it starts on.
    struct Record {
        var line: Int
        var fields: [String]
    }

    /// The file's rows, without the empty ones (no field, or only empty fields).
    ///
    /// A field in double quotes may hold the separator, line breaks and `""` (one quote); spaces around a field are
    /// dropped. The separator is `,`, or `;` or a tab when the first line has no comma.
    ///
    /// - Throws: ``ImportError`` when a quoted field is not closed.
    static func records(_ text: String) throws -> [Record] {
        let scalars = Array(text.unicodeScalars)
        let firstLine = scalars.prefix { $0 != "\n" && $0 != "\r" }
        let separator: Unicode.Scalar =
            firstLine.contains(",") ? "," : firstLine.contains(";") ? ";" : firstLine.contains("\t") ? "\t" : ","
        var records: [Record] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var quotedField = false  // the current field was quoted (so its spaces are its own)
        var line = 1
        var recordLine = 1
        var index = 0

        func endField() {
            let text = String(field)
            fields.append(quotedField ? text : text.trimmingCharacters(in: .whitespaces))
            field = String.UnicodeScalarView()
            quotedField = false
        }
        func endRecord() {
            endField()
            if fields.contains(where: { !$0.isEmpty }) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
        }

        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "\"" where String(field).trimmingCharacters(in: .whitespaces).isEmpty && !quotedField:
                // A quoted field: up to the next lone quote.
                let opened = line
                field = String.UnicodeScalarView()
                quotedField = true
                var closed = false
                while index < scalars.count {
                    let inner = scalars[index]
                    index += 1
                    if inner == "\"" {
                        if index < scalars.count, scalars[index] == "\"" {
                            field.append("\"")
                            index += 1
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        if inner == "\n" || (inner == "\r" && (index >= scalars.count || scalars[index] != "\n")) {
                            line += 1
                        }
                        field.append(inner)
                    }
                }
                guard closed else {
                    throw ImportError(problems: [(opened, "a field opened with a double quote is never closed")])
                }
            case separator:
                endField()
            case "\r", "\n":
                if scalar == "\r", index < scalars.count, scalars[index] == "\n" { index += 1 }
                endRecord()
                line += 1
                recordLine = line
            default:
                // Text after a closing quote (`"a" b`) is kept, as spreadsheets read it.
                if quotedField, scalar == " " || scalar == "\t" { continue }
                field.append(scalar)
            }
        }
        endRecord()
        return records
    }

    /// The text of a file: UTF-8 (without its byte order mark), or UTF-16 with a byte order mark.
    ///
    /// - Throws: ``ImportError`` naming the line where the bytes stop being UTF-8.
    static func text(of bytes: [UInt8]) throws -> String {
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            let littleEndian = bytes[0] == 0xFF
            let units = stride(from: 2, to: bytes.count - 1, by: 2).map { offset in
                littleEndian
                    ? UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
                    : UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
            }
            guard bytes.count % 2 == 0, let text = String(validating: units, as: UTF16.self) else {
                throw ImportError(problems: [(1, "the file starts like UTF-16 text but is not; save it as CSV UTF-8")])
            }
            return text
        }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        guard let text = String(validating: body, as: UTF8.self) else {
            // The first line that does not decode, for the message.
            var line = 1
            var start = 0
            for (offset, byte) in body.enumerated() where byte == UInt8(ascii: "\n") {
                if String(validating: body[start..<offset], as: UTF8.self) == nil { break }
                line += 1
                start = offset + 1
            }
            throw ImportError(problems: [
                (
                    line,
                    "the text is not UTF-8 (a spreadsheet's plain CSV may be in another encoding); save it as CSV UTF-8"
                )
            ])
        }
        return text
    }
}
