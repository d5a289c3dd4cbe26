import CampusPKI
import Foundation
import NIOCore

/// Before anything is spent (a key, a one-time code, an enrollment), the Student asks Blackboard which assignments
/// are open, so that a student who must name one, or names one that is not open, learns it at once.
///
/// The answer is not authenticated (nobody is yet): it only saves a student a wasted enrollment. What counts is the
/// assignment Blackboard signs in the handshake (step 4).
public enum AssignmentCheck {
    /// Asks Blackboard which assignments are open.
    ///
    /// - Returns: The open assignments, or `nil` when Blackboard cannot be reached, the connection is lost or the
    ///   server is busy (the upload says so later, after an enrollment that stays usable) or does not answer the question (it refuses it as an unknown message
    ///   type); the handshake then decides.
    /// - Throws: ``StudentError`` when the server answers something else.
    public static func openAssignments(at address: ServerAddress, timeout: TimeAmount = .seconds(10)) async throws
        -> [ListedAssignment]?
    {
        let server = StudentError.Server.blackboard(address)
        do {
            return try await FramedClient.withConnection(to: address, timeout: timeout) { frames in
                try await frames.send(.assignmentsQuery)
                switch try await frames.receive().message {
                case .assignmentList(let assignments):
                    return assignments
                case .error(let error) where error.code == .unknownMessageType:
                    return nil
                case .error(let error):
                    throw StudentError.refusal(error, by: server, answeringFirstMessage: true)
                case let other:
                    throw StudentError.invalidResponse(
                        "the server at \(address) answered \(other.kind.phrase) to a question for the open "
                            + "assignments; is \(server.option) the address of Blackboard?")
                }
            }
        } catch is ConnectError {
            return nil
        } catch let error where TransientFailure.of(error) != nil {
            // A lost connection or a busy instance says nothing of the assignments: the upload, with its retries,
            // decides.
            return nil
        } catch {
            throw StudentError.fromConnection(error, server: server)
        }
    }

    /// The open assignment a report for `name` goes to: the one named, or the only one open when `name` is empty.
    ///
    /// - Throws: ``StudentError/refusedByBlackboard(_:)`` with the code the handshake would bring:
    ///   `unknown-assignment` (not open, or no such assignment), `assignment-closed` (none is open),
    ///   `assignment-required` (several are open and none was named).
    public static func choose(_ name: String, among open: [ListedAssignment]) throws -> ListedAssignment {
        let listed = open.filter { ReceiptDocument.isValidAssignmentName($0.name) }
        let names = listed.map(describe).joined(separator: ", ")
        if name.isEmpty {
            guard !listed.isEmpty else {
                throw StudentError.refusedByBlackboard(
                    CampusError(.assignmentClosed, "Blackboard has no open assignment (asked before enrolling)"))
            }
            guard listed.count == 1 else {
                throw StudentError.refusedByBlackboard(
                    CampusError(
                        .assignmentRequired,
                        "several assignments are open; name one with --assignment: \(names) "
                            + "(asked before enrolling; nothing was spent)"))
            }
            return listed[0]
        }
        guard let chosen = listed.first(where: { $0.name == name }) else {
            throw StudentError.refusedByBlackboard(
                CampusError(
                    .unknownAssignment,
                    "Blackboard has no open assignment \(name); "
                        + (listed.isEmpty ? "none is open" : "open: \(names)")
                        + " (asked before enrolling; nothing was spent)"))
        }
        return chosen
    }

    /// `a1 (deadline 2026-12-01T23:59:59Z)`, `report (no deadline)`.
    static func describe(_ assignment: ListedAssignment) -> String {
        let deadline =
            ReceiptDocument.parseTimestamp(assignment.deadline).map { "deadline \(ReceiptDocument.timestamp($0))" }
            ?? "no deadline"
        return "\(assignment.name) (\(deadline)\(assignment.refusesLate ? ", no late submissions" : ""))"
    }
}
