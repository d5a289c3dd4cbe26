import CampusAdmin
import CampusPKI
import Foundation
import Synchronization

/// Blackboard's store in memory: forgets everything on exit. For tests; it passes the same conformance suite as the
/// SQLite and PostgreSQL stores.
public final class InMemoryBlackboardStore: BlackboardStore {
    fileprivate struct State {
        var sessions: [SessionRecord] = []
        var failures: [Int64: String] = [:]
        var messages: [Int64: [StoredMessage]] = [:]
        var reports: [(session: Int64, summary: ReportSummary)] = []
        var lastReportNumber: Int64 = 0
        var assignments: [Assignment]
        var revocations: [LearnedRevocation] = []
        var roster: [StudentID: RosterEntry] = [:]
        var manifests: [StoredManifest] = []
    }

    private let state: Mutex<State>
    private let adminSessions = InMemoryAdminSessionStore()

    public init(assignments: [Assignment] = [Assignment(name: Assignment.defaultName, deadline: nil)]) {
        state = Mutex(State(assignments: assignments))
    }

    public var location: String { "memory" }

    public func assignments() async throws -> [Assignment] {
        state.withLock { $0.assignments }
    }

    public func addAssignment(_ assignment: Assignment) async throws {
        try state.withLock { state in
            guard !state.assignments.contains(where: { $0.name == assignment.name }) else {
                throw CampusError(.malformedRequest, "an assignment named \(assignment.name) exists already")
            }
            state.assignments.append(assignment)
        }
    }

    public func closeAssignment(named name: String) async throws -> Bool {
        state.withLock { state in
            guard let index = state.assignments.firstIndex(where: { $0.name == name && $0.isOpen }) else {
                return false
            }
            state.assignments[index].isOpen = false
            return true
        }
    }

    public func commit(_ batch: SessionBatch) async throws -> SessionBatch.Stored {
        try state.withLock { state in
            let current = state.assignments.first { $0.name == batch.session.assignment.name }
            try batch.checkAssignment(current)
            let record = batch.session
            try batch.checkLimits(
                sessionBytes: batch.storedSession.map { state.storedBytes(ofSession: $0) } ?? 0,
                studentBytes: state.storedBytes(of: record.studentID),
                reportsInAssignment: state.reports(of: record.studentID, in: record.assignment.name))
            let session = batch.storedSession ?? Int64(state.sessions.count + 1)
            let stored = Set((state.messages[session] ?? []).map(\.sequence))
            guard stored.isDisjoint(with: batch.messages.map(\.sequence)),
                Set(batch.messages.map(\.sequence)).count == batch.messages.count
            else {
                throw CampusError(.storageFailed, "a message of session \(session) is already stored")
            }
            let number = batch.reservedNumber ?? state.lastReportNumber + 1
            guard !state.reports.contains(where: { $0.summary.id == number }) else {
                throw CampusError(.storageFailed, "report \(number) is already stored")
            }
            let summary = try batch.finishedReport(number: number, at: Date(), assignment: current)
            // Nothing is changed before every check has passed, as a rolled-back transaction changes nothing.
            if batch.storedSession == nil { state.sessions.append(batch.session) }
            state.messages[session, default: []] += batch.messages
            guard let summary else { return SessionBatch.Stored(session: session, report: nil) }
            if batch.reservedNumber == nil { state.lastReportNumber += 1 }
            state.reports.append((session, summary))
            return SessionBatch.Stored(session: session, report: summary)
        }
    }

    public func usage(of studentID: StudentID, in assignment: String) async throws -> StudentUsage {
        state.withLock { state in
            StudentUsage(
                reportsInAssignment: state.reports(of: studentID, in: assignment),
                storedBytes: state.storedBytes(of: studentID))
        }
    }

    public func recordRevocations(_ revocations: [LearnedRevocation]) async throws {
        state.withLock { state in
            for revocation in revocations where !state.revocations.contains(where: { $0.serial == revocation.serial }) {
                state.revocations.append(revocation)
            }
        }
    }

    public func revocations() async throws -> [LearnedRevocation] {
        state.withLock { state in
            state.revocations.sorted { ($0.learnedAt, $0.serial) < ($1.learnedAt, $1.serial) }
        }
    }

    public func reserveReportNumber() async throws -> Int64 {
        state.withLock { state in
            state.lastReportNumber += 1
            return state.lastReportNumber
        }
    }

    public func recordManifest(_ manifest: StoredManifest) async throws -> Bool {
        state.withLock { state in
            guard
                !state.manifests.contains(where: { $0.assignment == manifest.assignment && $0.kind == manifest.kind })
            else { return false }
            state.manifests.append(manifest)
            return true
        }
    }

    public func manifests(of assignment: String?) async throws -> [StoredManifest] {
        state.withLock { state in state.manifests.filter { assignment == nil || $0.assignment == assignment } }
    }

    public func failSession(_ session: Int64, reason: String) async throws {
        state.withLock { state in
            guard !state.reports.contains(where: { $0.session == session }) else { return }
            state.failures[session] = state.failures[session] ?? reason
        }
    }

    public func incompleteAttempts(for studentID: StudentID?) async throws -> [IncompleteAttempt] {
        state.withLock { state in
            let complete = Set(state.reports.map(\.session))
            return state.sessions.indices.compactMap { index -> IncompleteAttempt? in
                let number = Int64(index + 1)
                let record = state.sessions[index]
                guard !complete.contains(number), studentID == nil || record.studentID == studentID,
                    let messages = state.messages[number], !messages.isEmpty
                else { return nil }
                return IncompleteAttempt(
                    session: number, studentID: record.studentID, certificateSerial: record.certificateSerial,
                    assignment: record.assignment.name, startedAt: record.startedAt, messageCount: messages.count,
                    storedBytes: state.storedBytes(ofSession: number),
                    status: state.failures[number].map(IncompleteAttempt.Status.failed) ?? .open)
            }
        }
    }

    public func reports(for studentID: StudentID?) async throws -> [ReportSummary] {
        state.withLock { state in
            // By number, as SQLite lists them: a reserved number may be committed after a later one.
            state.reports.map(\.summary).filter { studentID == nil || $0.studentID == studentID }.sorted {
                $0.id < $1.id
            }
        }
    }

    public func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? {
        state.withLock { state in
            guard let entry = state.reports.first(where: { $0.summary.id == id }) else { return nil }
            return (entry.summary, (state.messages[entry.session] ?? []).sorted { $0.sequence < $1.sequence })
        }
    }

    public func roster() async throws -> [RosterEntry] {
        state.withLock { state in
            state.roster.values.map { RosterEntry(studentID: $0.studentID, name: $0.name) }
                .sorted { $0.studentID.rawValue < $1.studentID.rawValue }
        }
    }

    public func importRoster(_ entries: [RosterEntry]) async throws -> Int {
        state.withLock { state in
            for entry in entries { state.roster[entry.studentID] = entry }
            return state.roster.count
        }
    }

    public func messages(for studentID: StudentID) async throws -> [[StoredMessage]] {
        state.withLock { state in
            state.sessions.indices.filter { state.sessions[$0].studentID == studentID }.map { index in
                (state.messages[Int64(index + 1)] ?? []).sorted { $0.sequence < $1.sequence }
            }
        }
    }

    public func probeWrite() async throws {}

    public func recordAdminSession(_ session: AdminSessionRecord) async throws {
        try await adminSessions.recordAdminSession(session)
    }

    public func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        try await adminSessions.adminSession(key: key, at: time)
    }

    public func removeAdminSession(key: String) async throws {
        try await adminSessions.removeAdminSession(key: key)
    }

    public func removeAllAdminSessions() async throws -> Int {
        try await adminSessions.removeAllAdminSessions()
    }
}

extension InMemoryBlackboardStore.State {
    func storedBytes(ofSession session: Int64) -> Int64 {
        Int64((messages[session] ?? []).reduce(0) { $0 + $1.content.count })
    }

    func storedBytes(of studentID: StudentID) -> Int64 {
        sessions.indices.filter { sessions[$0].studentID == studentID }.reduce(0) {
            $0 + storedBytes(ofSession: Int64($1 + 1))
        }
    }

    func reports(of studentID: StudentID, in assignment: String) -> Int {
        reports.filter { $0.summary.studentID == studentID && $0.summary.assignment == assignment }.count
    }
}
