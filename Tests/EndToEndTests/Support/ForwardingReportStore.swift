import CampusAdmin
import CampusBlackboard
import CampusPKI
import Foundation

/// A test store that changes one thing (usually `commit`) and hands everything else to an in-memory store.
protocol ForwardingReportStore: BlackboardStore {
    var inner: InMemoryBlackboardStore { get }
}

extension ForwardingReportStore {
    func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored { try await inner.commit(batch) }
    func failSession(_ session: Int64, reason: String) async throws {
        try await inner.failSession(session, reason: reason)
    }
    func reports(for studentID: StudentID?) async throws -> [ReportSummary] { try await inner.reports(for: studentID) }
    func incompleteAttempts(for studentID: StudentID?) async throws -> [IncompleteAttempt] {
        try await inner.incompleteAttempts(for: studentID)
    }
    func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? { try await inner.report(id) }
    func assignments() async throws -> [Assignment] { try await inner.assignments() }
    func addAssignment(_ assignment: Assignment) async throws { try await inner.addAssignment(assignment) }
    func closeAssignment(named name: String) async throws -> Bool { try await inner.closeAssignment(named: name) }
    func usage(of studentID: StudentID, in assignment: String) async throws -> StudentUsage {
        try await inner.usage(of: studentID, in: assignment)
    }
    func recordRevocations(_ revocations: [LearnedRevocation]) async throws {
        try await inner.recordRevocations(revocations)
    }
    func revocations() async throws -> [LearnedRevocation] { try await inner.revocations() }
    var location: String { inner.location }
    func roster() async throws -> [RosterEntry] { try await inner.roster() }
    func importRoster(_ entries: [RosterEntry]) async throws -> Int { try await inner.importRoster(entries) }
    func messages(for studentID: StudentID) async throws -> [[StoredMessage]] {
        try await inner.messages(for: studentID)
    }
    func probeWrite() async throws { try await inner.probeWrite() }
    func recordAdminSession(_ session: AdminSessionRecord) async throws { try await inner.recordAdminSession(session) }
    func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        try await inner.adminSession(key: key, at: time)
    }
    func removeAdminSession(key: String) async throws { try await inner.removeAdminSession(key: key) }
    func removeAllAdminSessions() async throws -> Int { try await inner.removeAllAdminSessions() }
    func reserveReportNumber() async throws -> Int64 { try await inner.reserveReportNumber() }
    func recordManifest(_ manifest: StoredManifest) async throws -> Bool { try await inner.recordManifest(manifest) }
    func manifests(of assignment: String?) async throws -> [StoredManifest] {
        try await inner.manifests(of: assignment)
    }
}
