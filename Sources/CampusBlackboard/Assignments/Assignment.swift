import CampusPKI
import Foundation

/// Something students submit to: a name, perhaps a deadline, and what happens to a late submission.
///
/// `blackboard.db` starts with one open assignment, ``defaultName`` (`report`), without a deadline, so a Blackboard
/// nobody has configured takes reports as the seed's did.
public struct Assignment: Sendable, Hashable, Codable {
    /// What a submission committed after the deadline gets.
    public enum LatePolicy: String, Sendable, Hashable, Codable, CaseIterable {
        /// Stored, marked late.
        case accept
        /// Refused with `deadline-passed`.
        case refuse
    }

    /// The assignment every new `blackboard.db` has.
    public static let defaultName = "report"

    public var name: String
    /// `nil`: no deadline, every submission is on time.
    public var deadline: Date?
    public var late: LatePolicy
    /// Closed assignments take no submissions.
    public var isOpen: Bool

    public init(name: String, deadline: Date?, late: LatePolicy = .accept, isOpen: Bool = true) {
        self.name = name
        self.deadline = deadline
        self.late = late
        self.isOpen = isOpen
    }

    /// The deadline as it travels in step 4 and stands in receipts: ISO-8601 UTC, whole seconds; empty when none.
    public var deadlineText: String {
        deadline.map(ReceiptDocument.timestamp) ?? ""
    }

    /// Whether a submission committed at `time` is late (times compare in whole seconds, as the receipt shows them).
    public func isLate(at time: Date) -> Bool {
        guard let deadline else { return false }
        return time.timeIntervalSince1970.rounded(.down) > deadline.timeIntervalSince1970.rounded(.down)
    }

    /// The assignment a request names, or the only open one when it names none.
    ///
    /// - Throws: ``CampusError``: `unknown-assignment`, `assignment-closed`, `assignment-required` (several are open),
    ///   `deadline-passed` (it refuses late submissions and the deadline has passed).
    public static func resolve(_ name: String, among assignments: [Assignment], now: Date) throws(CampusError)
        -> Assignment
    {
        let chosen: Assignment
        if name.isEmpty {
            let open = assignments.filter(\.isOpen)
            guard !open.isEmpty else {
                throw CampusError(.assignmentClosed, "Blackboard has no open assignment")
            }
            guard open.count == 1 else {
                throw CampusError(
                    .assignmentRequired,
                    "several assignments are open; name one (--assignment): "
                        + open.map(\.name).sorted().joined(separator: ", "))
            }
            chosen = open[0]
        } else {
            guard let found = assignments.first(where: { $0.name == name }) else {
                let open = assignments.filter(\.isOpen).map(\.name).sorted()
                let hint = open.isEmpty ? "none is open" : "open: " + open.joined(separator: ", ")
                throw CampusError(.unknownAssignment, "there is no assignment \(name) (\(hint))")
            }
            guard found.isOpen else {
                throw CampusError(.assignmentClosed, "the assignment \(name) is closed")
            }
            chosen = found
        }
        if chosen.late == .refuse, chosen.isLate(at: now) {
            throw CampusError(
                .deadlinePassed,
                "the deadline of \(chosen.name) was \(chosen.deadlineText) and late submissions are refused")
        }
        return chosen
    }
}
