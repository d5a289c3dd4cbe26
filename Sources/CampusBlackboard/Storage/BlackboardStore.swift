import CampusAdmin
import CampusPKI
import Foundation

/// Everything Blackboard keeps: sessions with their messages, reports with their signed receipts and file
/// descriptions, assignments, the course's roster, what each student has stored, the revocations learned from CUHK,
/// the web interface's sessions and a readiness probe.
///
/// One protocol for every engine: SQLite (`blackboard.db`, one Blackboard), PostgreSQL (several Blackboard instances
/// sharing one database) and memory (tests); one conformance suite holds them to the same behaviour. Rules stay in
/// Swift (``SessionBatch`` decides lateness, closed assignments and quotas inside the commit); a store offers atomic
/// steps: a batch is one durable transaction, a student's batches are committed one at a time whichever instance
/// holds the session (so quotas count every instance's commits), and a report takes its number from a sequence, so
/// numbers are unique across instances (they increase, but may skip a number when a commit fails).
public protocol BlackboardStore: ReportStore, AdminSessionStore {
    /// Where the records are, for messages and the log: the file's path, or the database's URL without its password.
    var location: String { get }

    /// The course's students, as `blackboard roster import` gave them (empty when none was imported).
    func roster() async throws -> [RosterEntry]

    /// Adds the entries to the roster, replacing the names of students already on it.
    ///
    /// - Returns: How many students the roster holds now.
    func importRoster(_ entries: [RosterEntry]) async throws -> Int

    /// Every stored message of a student's sessions, complete or not (sessions in the order they began): what an
    /// operator checks after a crash, since every acknowledged message must be here.
    func messages(for studentID: StudentID) async throws -> [[StoredMessage]]

    /// Commits one small durable write: throws when the store cannot take writes now (`/readyz`).
    func probeWrite() async throws
}
