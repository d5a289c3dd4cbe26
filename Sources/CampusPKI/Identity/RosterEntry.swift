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

    /// Parses the whole file.
    ///
    /// - Throws: ``ImportError`` with every problem found.
    public static func parse(_ text: String) throws -> [RosterEntry] {
        // `\r\n` is one Character in Swift, and a newline like `\n`.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let headerLine = lines.first else {
            throw ImportError(problems: [(1, "the file is empty; the first line must be the header sid,name")])
        }
        let header = fields(headerLine).map { $0.lowercased() }
        guard let sidColumn = header.firstIndex(of: "sid"), let nameColumn = header.firstIndex(of: "name") else {
            throw ImportError(problems: [(1, "the header must name the columns sid and name (and optionally email)")])
        }
        let emailColumn = header.firstIndex(of: "email")
        var entries: [RosterEntry] = []
        var problems: [(line: Int, problem: String)] = []
        var seen: [StudentID: Int] = [:]
        for (index, line) in lines.enumerated().dropFirst() {
            let number = index + 1
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let row = fields(line)
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

    /// The fields of one line: comma-separated, trimmed; a field in double quotes may hold commas and `""`.
    static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            switch character {
            case "\"" where quoted:
                var lookahead = characters
                if lookahead.next() == "\"" {
                    current.append("\"")
                    characters = lookahead
                } else {
                    quoted = false
                }
            case "\"" where current.trimmingCharacters(in: .whitespaces).isEmpty:
                quoted = true
                current = ""
            case "," where !quoted:
                fields.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            default:
                current.append(character)
            }
        }
        fields.append(current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
