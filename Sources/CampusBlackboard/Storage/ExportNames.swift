import CampusPKI

/// Where an exported report goes: `<assignment>/<SID>/report-<number>-<file name>`, so a course's exports sort by
/// assignment and student and each file keeps the name the student gave it.
public enum ExportNames {
    /// `report-<number>-<name>`, or `report-<number>` when the report came from no named file.
    public static func fileName(of report: ReportSummary) -> String {
        guard let name = report.file?.name, !name.isEmpty else { return "report-\(report.id)" }
        return "report-\(report.id)-\(name)"
    }

    /// The directory of an assignment. Assignment names are letters, digits, `-`, `_` and `.`; a name of dots only
    /// would be `.` or `..` as a path, so it gets a `_` in front.
    public static func directory(ofAssignment name: String) -> String {
        name.allSatisfy { $0 == "." } ? "_" + name : name
    }

    /// The path of `report` under an export directory.
    public static func path(of report: ReportSummary, under directory: String) -> String {
        SecureFile.join(
            SecureFile.join(
                SecureFile.join(directory, Self.directory(ofAssignment: report.assignment)), report.studentID.rawValue),
            fileName(of: report))
    }
}
