import CampusPKI
import Synchronization

/// A report store that forgets everything on exit; for unit tests.
public final class InMemoryReportStore: ReportStore {
    private struct State {
        var sessions: [SessionRecord] = []
        var status: [String] = []
        var messages: [Int64: [StoredMessage]] = [:]
        var reports: [(session: Int64, summary: ReportSummary)] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func openSession(_ session: SessionRecord) async throws -> Int64 {
        state.withLock { state in
            state.sessions.append(session)
            state.status.append("open")
            return Int64(state.sessions.count)
        }
    }

    public func appendMessages(_ messages: [StoredMessage], toSession session: Int64) async throws {
        try state.withLock { state in
            let stored = Set((state.messages[session] ?? []).map(\.sequence))
            guard stored.isDisjoint(with: messages.map(\.sequence)),
                Set(messages.map(\.sequence)).count == messages.count
            else {
                throw CampusError(.storageFailed, "a message of session \(session) is already stored")
            }
            state.messages[session, default: []] += messages
        }
    }

    public func completeReport(ofSession session: Int64, summary: ReportSummary) async throws -> Int64 {
        state.withLock { state in
            var summary = summary
            summary.id = Int64(state.reports.count + 1)
            state.reports.append((session, summary))
            state.status[Int(session) - 1] = "complete"
            return summary.id
        }
    }

    public func failSession(_ session: Int64, reason: String) async throws {
        state.withLock { state in
            if state.status[Int(session) - 1] == "open" { state.status[Int(session) - 1] = "failed: \(reason)" }
        }
    }

    public func reports(for studentID: StudentID?) async throws -> [ReportSummary] {
        state.withLock { state in
            state.reports.map(\.summary).filter { studentID == nil || $0.studentID == studentID }
        }
    }

    public func report(_ id: Int64) async throws -> (ReportSummary, [StoredMessage])? {
        state.withLock { state in
            guard let entry = state.reports.first(where: { $0.summary.id == id }) else { return nil }
            return (entry.summary, (state.messages[entry.session] ?? []).sorted { $0.sequence < $1.sequence })
        }
    }

    /// The status of a session: `open`, `complete` or `failed: reason`.
    public func status(ofSession session: Int64) -> String? {
        state.withLock { state in
            state.status.indices.contains(Int(session) - 1) ? state.status[Int(session) - 1] : nil
        }
    }
}
