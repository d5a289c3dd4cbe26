import CampusAdmin
import CampusPKI
import Foundation
import Hummingbird
import NIOCore

/// The instructor's pages: assignments with their counts, each assignment's students, a student's submissions,
/// one submission with its messages, receipt and downloads; adding and closing assignments.
///
/// Pages read Blackboard's store; the lists refresh themselves every ``refreshSeconds`` so new submissions appear
/// without a reload.
public struct BlackboardDashboard: Sendable {
    public static let refreshSeconds = 10

    let store: any BlackboardStore

    public init(store: any BlackboardStore) {
        self.store = store
    }

    /// The site's header links.
    public static let navigation = [("/", "Assignments")]

    public static func pages() throws -> AdminPages {
        try AdminPages(site: "Blackboard", navigation: navigation, templates: DashboardTemplates.all)
    }

    /// Adds the pages and actions behind the login.
    public func routes(_ group: RouterGroup<AdminContext>, _ pages: AdminPages) {
        let store = store
        group.get("/") { _, context -> Response in
            let assignments = try await store.assignments()
            let reports = try await store.reports(for: nil)
            let roster = try await store.roster()
            let rows: [[String: Any]] = assignments.map { assignment in
                let latest = CountedSubmission.byStudent(reports.filter { $0.assignment == assignment.name })
                let submitted = Set(latest.keys)
                var row: [String: Any] = [
                    "name": assignment.name,
                    "deadline": assignment.deadline.map(ReceiptDocument.timestamp) ?? "none",
                    "late": assignment.late.rawValue,
                    "open": assignment.isOpen,
                    "submitted": submitted.count,
                    "onTime": latest.values.filter { !$0.report.isLate }.count,
                    "lateCount": latest.values.filter(\.report.isLate).count,
                ]
                if !roster.isEmpty {
                    row["missing"] = String(roster.filter { !submitted.contains($0.studentID) }.count)
                }
                return row
            }
            return pages.page(
                "assignments", title: "Assignments",
                values: [
                    "assignments": rows, "hasRoster": !roster.isEmpty, "rosterCount": Count.of(roster.count, "student"),
                ],
                session: context.session, refresh: Self.refreshSeconds)
        }
        group.get("/assignments/:name") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            guard let assignment = try await store.assignments().first(where: { $0.name == name }) else {
                return pages.message(
                    "No such assignment", "There is no assignment \(name).", session: context.session, status: .notFound
                )
            }
            let latest = CountedSubmission.byStudent(try await store.reports(for: nil).filter { $0.assignment == name })
            let revocations = try await Self.revocationsBySerial(store)
            let roster = try await store.roster()
            let names = Dictionary(roster.map { ($0.studentID, $0.name) }, uniquingKeysWith: { first, _ in first })
            let rows: [[String: Any]] = latest.values.sorted {
                $0.report.studentID.rawValue < $1.report.studentID.rawValue
            }
            .map { entry in
                Self.revocationMark(of: entry.report, revocations).merging([
                    "sid": entry.report.studentID.rawValue, "name": names[entry.report.studentID] ?? "",
                    "report": entry.report.id, "time": ReceiptDocument.timestamp(entry.report.completedAt),
                    "late": entry.report.isLate, "count": entry.count, "bytes": entry.report.totalBytes,
                    "lateAfter": entry.lateAfter, "hasLateAfter": entry.lateAfter > 0,
                ]) { $1 }
            }
            let missing = roster.filter { latest[$0.studentID] == nil }.map {
                ["sid": $0.studentID.rawValue, "name": $0.name]
            }
            let manifests: [[String: Any]] = try await store.manifests(of: name).map { manifest in
                let delay = assignment.deadline.map { manifest.timestampedAt.timeIntervalSince($0) }
                return [
                    "kind": manifest.kind.rawValue, "size": manifest.bundle.leaves.count,
                    "timestamped": ReceiptDocument.preciseTimestamp(manifest.timestampedAt),
                    "delay": delay.map {
                        $0 >= 0
                            ? "\(SignedManifest.describe($0)) after the deadline"
                            : "\(SignedManifest.describe($0)) before the deadline"
                    } ?? "",
                    "late": delay.map { manifest.kind == .onTime && $0 > SignedManifest.timestampWindow } ?? false,
                    "path": ManifestRoute.path(assignment: name, kind: manifest.kind),
                    "file": ManifestRoute.fileName(assignment: name, kind: manifest.kind),
                ]
            }
            let incomplete = try await store.incompleteAttempts(for: nil).filter { $0.assignment == name }.map {
                Self.row(of: $0, name: names[$0.studentID] ?? "")
            }
            return pages.page(
                "assignment", title: "Assignment \(name)",
                values: [
                    "name": name, "deadline": assignment.deadline.map(ReceiptDocument.timestamp) ?? "none",
                    "late": assignment.late.rawValue, "open": assignment.isOpen, "rows": rows, "missing": missing,
                    "hasMissing": !missing.isEmpty, "incomplete": incomplete, "hasIncomplete": !incomplete.isEmpty,
                    "manifests": manifests, "hasManifests": !manifests.isEmpty,
                ],
                session: context.session, refresh: Self.refreshSeconds)
        }
        group.get("/students/:sid") { _, context -> Response in
            guard let studentID = context.parameters.get("sid").flatMap(StudentID.init) else {
                return pages.message(
                    "Not a student ID", StudentID.requirement, session: context.session, status: .badRequest)
            }
            let reports = try await store.reports(for: studentID).reversed()
            let counted = Set(
                Dictionary(grouping: reports, by: \.assignment).values.compactMap {
                    CountedSubmission.byStudent(Array($0))[studentID]?.report.id
                })
            let name = try await store.roster().first { $0.studentID == studentID }?.name ?? ""
            let revocations = try await Self.revocationsBySerial(store)
            let incomplete = try await store.incompleteAttempts(for: studentID).reversed().map {
                Self.row(of: $0, name: name)
            }
            return pages.page(
                "student", title: "Student \(studentID)",
                values: [
                    "sid": studentID.rawValue, "name": name, "incomplete": incomplete,
                    "hasIncomplete": !incomplete.isEmpty,
                    "reports": reports.map { report -> [String: Any] in
                        Self.revocationMark(of: report, revocations).merging([
                            "report": report.id, "assignment": report.assignment,
                            "time": ReceiptDocument.timestamp(report.completedAt), "late": report.isLate,
                            "messages": report.messageCount, "bytes": report.totalBytes,
                            "counts": counted.contains(report.id),
                        ]) { $1 }
                    },
                ],
                session: context.session, refresh: Self.refreshSeconds)
        }
        group.get("/reports/:id") { _, context -> Response in
            guard let id = context.parameters.get("id", as: Int64.self),
                let (summary, messages) = try await store.report(id)
            else {
                return pages.message(
                    "No such submission", "There is no such submission.", session: context.session, status: .notFound)
            }
            let document =
                (try? SignedReceipt.document(of: summary.receipt)) ?? (try? ReceiptSigner.document(for: summary))
            let revocations = try await Self.revocationsBySerial(store)
            return pages.page(
                "report", title: "Submission \(id)",
                values: Self.revocationMark(of: summary, revocations).merging([
                    "id": id, "sid": summary.studentID.rawValue, "assignment": summary.assignment,
                    "time": ReceiptDocument.timestamp(summary.completedAt), "late": summary.isLate,
                    "timestamped": summary.timestampedAt.map { ReceiptDocument.preciseTimestamp($0) } ?? "",
                    "serial": summary.certificateSerial, "sha256": summary.digest.hexString,
                    "bytes": summary.totalBytes, "hasReceipt": !summary.receipt.isEmpty,
                    "fileName": Self.downloadName(of: summary),
                    "contentType": summary.file.flatMap { $0.contentType.isEmpty ? nil : $0.contentType } ?? "unknown",
                    "fields": (document?.summaryFieldLines() ?? []).map { ["key": $0.0, "value": $0.1] },
                    "messages": messages.map { message -> [String: Any] in
                        let text = String(validating: message.content, as: UTF8.self)
                        let isText =
                            text.map { !$0.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" } }
                            ?? false
                        return [
                            "sequence": message.sequence, "time": ReceiptDocument.timestamp(message.receivedAt),
                            "isText": isText, "text": isText ? (text ?? "") : "", "size": message.content.count,
                            "hex": Array(message.content.prefix(32)).hexString,
                        ]
                    },
                ]) { $1 },
                session: context.session)
        }
        group.get("/reports/:id/content") { _, context -> Response in
            guard let id = context.parameters.get("id", as: Int64.self),
                let (summary, messages) = try await store.report(id)
            else { return Response(status: .notFound) }
            var buffer = ByteBuffer()
            for message in messages { buffer.writeBytes(message.content) }
            return Download.response(
                buffer, name: Self.downloadName(of: summary), type: summary.file?.contentType ?? "")
        }
        group.get("/reports/:id/receipt.p7s") { _, context -> Response in
            guard let id = context.parameters.get("id", as: Int64.self), let (summary, _) = try await store.report(id),
                !summary.receipt.isEmpty
            else { return Response(status: .notFound) }
            return Download.response(
                ByteBuffer(bytes: summary.receipt), name: "\(summary.assignment)-\(id).p7s",
                type: "application/pkcs7-signature")
        }
        group.post("/assignments") { _, context -> Response in
            let name = context.form["name"] ?? ""
            guard ReceiptDocument.isValidAssignmentName(name) else {
                return pages.message(
                    "Not added", "The name: \(ReceiptDocument.assignmentRequirement)", session: context.session,
                    status: .badRequest)
            }
            let deadlineText = (context.form["deadline"] ?? "").trimmingCharacters(in: .whitespaces)
            let deadline = deadlineText.isEmpty ? nil : try? Date(deadlineText, strategy: .iso8601)
            guard deadlineText.isEmpty || deadline != nil else {
                return pages.message(
                    "Not added", "The deadline must be ISO-8601 with a time zone, such as 2026-12-01T23:59:59Z.",
                    session: context.session, status: .badRequest)
            }
            let late = Assignment.LatePolicy(rawValue: context.form["late"] ?? "accept") ?? .accept
            do {
                try await store.addAssignment(Assignment(name: name, deadline: deadline, late: late))
            } catch let error as CampusError {
                return pages.message("Not added", error.reason, session: context.session, status: .conflict)
            }
            return .redirect(to: "/", type: .normal)
        }
        group.post("/assignments/:name/close") { _, context -> Response in
            _ = try await store.closeAssignment(named: context.parameters.get("name") ?? "")
            return .redirect(to: "/", type: .normal)
        }
    }

    /// The revocations Blackboard learned from CUHK's revocation list, by serial.
    static func revocationsBySerial(_ store: any BlackboardStore) async throws -> [String: LearnedRevocation] {
        Dictionary(try await store.revocations().map { ($0.serial, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The mark of a report whose certificate CUHK revoked: when, why, and whether after the report was committed
    /// (the report stands, but the key that made it may have been someone else's since) or before it.
    static func revocationMark(of report: ReportSummary, _ revocations: [String: LearnedRevocation]) -> [String: Any] {
        guard let revocation = revocations[report.certificateSerial] else { return ["revoked": false] }
        return [
            "revoked": true, "revokedAt": ReceiptDocument.timestamp(revocation.revokedAt),
            "revokedReason": revocation.reason,
            "revokedWhen": revocation.revokedAt > report.completedAt ? "after this report" : "before this report",
        ]
    }

    /// The name a report's content is saved under: the student's file name, or `<SID>-report-<number>` with `.txt`
    /// for text and `.bin` otherwise.
    /// An incomplete attempt's row on the assignment's and the student's pages.
    static func row(of attempt: IncompleteAttempt, name: String) -> [String: Any] {
        [
            "sid": attempt.studentID.rawValue, "name": name, "assignment": attempt.assignment,
            "session": attempt.session, "time": ReceiptDocument.timestamp(attempt.startedAt),
            "messages": attempt.messageCount, "bytes": attempt.storedBytes, "status": attempt.statusText,
        ]
    }

    static func downloadName(of report: ReportSummary) -> String {
        if let name = report.file?.name, !name.isEmpty { return name }
        let isText = report.file?.contentType.lowercased().hasPrefix("text/") ?? false
        return "\(report.studentID)-report-\(report.id).\(isText ? "txt" : "bin")"
    }
}
