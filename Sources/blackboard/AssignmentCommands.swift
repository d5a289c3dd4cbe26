import ArgumentParser
import CampusBlackboard
import CampusCommandLine
import CampusPKI
import Foundation

struct AssignmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assignment",
        abstract: "Assignments students submit to, with deadlines.",
        discussion: """
            A new blackboard.db has one open assignment, \(Assignment.defaultName), without a deadline. A student \
            names the assignment with --assignment; without it the only open assignment is used.
            """,
        subcommands: [Add.self, List.self, Close.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an open assignment.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "Its name: \(ReceiptDocument.assignmentRequirement)")
        var name: String

        @Option(
            help: "The deadline, ISO-8601 with a time zone, e.g. 2026-12-01T23:59:59Z or 2026-12-01T23:59:59+08:00.")
        var deadline: String?

        @Option(help: "A submission committed after the deadline: accept (stored, marked late) or refuse.")
        var late: Assignment.LatePolicy = .accept

        func validate() throws {
            guard ReceiptDocument.isValidAssignmentName(name) else {
                throw ValidationError("the name: \(ReceiptDocument.assignmentRequirement)")
            }
            if let deadline, Self.parse(deadline) == nil {
                throw ValidationError("--deadline \(deadline) is not ISO-8601 with a time zone (2026-12-01T23:59:59Z)")
            }
        }

        static func parse(_ text: String) -> Date? {
            try? Date(text, strategy: .iso8601)
        }

        func run() async throws {
            let assignment = Assignment(name: name, deadline: deadline.flatMap(Self.parse), late: late)
            do {
                try await store.with("blackboard assignment add", creating: true) {
                    try await $0.addAssignment(assignment)
                }
            } catch let error as CampusError {
                Terminal.error("blackboard assignment add: \(error.reason)")
                throw ExitCode(1)
            }
            Terminal.line(
                "Assignment \(name) added: deadline \(assignment.deadline.map(ReceiptDocument.timestamp) ?? "none"), "
                    + "late submissions \(late == .accept ? "accepted and marked late" : "refused")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List assignments.")

        @OptionGroup var store: StoreOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let assignments = try await store.with("blackboard assignment list") { try await $0.assignments() }
            if json {
                try JSONOutput.print(
                    assignments.map {
                        AssignmentJSON(
                            name: $0.name, deadline: $0.deadline.map(ReceiptDocument.timestamp), late: $0.late.rawValue,
                            open: $0.isOpen)
                    })
                return
            }
            Terminal.line("NAME                  DEADLINE              LATE    STATUS")
            for assignment in assignments {
                Terminal.line(
                    [
                        assignment.name.padded(to: 20),
                        (assignment.deadline.map(ReceiptDocument.timestamp) ?? "none").padded(to: 20),
                        assignment.late.rawValue.padded(to: 6), assignment.isOpen ? "open" : "closed",
                    ].joined(separator: "  "))
            }
            Terminal.line(Count.of(assignments.count, "assignment"))
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Close an assignment: it takes no more submissions, also from sessions open now; what it has is kept.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The assignment's name.")
        var name: String

        func run() async throws {
            guard try await store.with("blackboard assignment close", { try await $0.closeAssignment(named: name) })
            else {
                Terminal.error(
                    "blackboard assignment close: no open assignment \(name) (see blackboard assignment list)")
                throw ExitCode(1)
            }
            Terminal.line("Assignment \(name) closed")
        }
    }
}

/// An assignment in `blackboard assignment list --json`.
struct AssignmentJSON: Encodable {
    var name: String
    var deadline: String?
    var late: String
    var open: Bool
}

extension Assignment.LatePolicy: ExpressibleByArgument {}
