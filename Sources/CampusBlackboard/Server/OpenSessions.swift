import CampusPKI
import Synchronization

/// The sessions open now, by the serial of the student's certificate, so that a revocation learned while a session
/// is open ends it; and how many each student has, so that one student cannot hold more than
/// ``maximumPerStudent`` at once (`blackboard serve --max-sessions-per-student`).
///
/// One dictionary entry per session, by the session's number: revocations are rare, and finding a certificate's
/// sessions by looking at every entry costs less than a dictionary of sessions per certificate, which every open
/// session would keep.
///
/// A session counts from the moment the student has proven that it holds cert 2's key (step 5), never before:
/// anyone can present a classmate's certificate, nobody else can confirm its key. Without the limit, one student
/// could hold every connection Blackboard serves, each with up to a message's frame and 4 MiB of verified messages
/// waiting for their commit.
public final class OpenSessions: Sendable {
    /// One session in the registry, until ``end()``.
    public struct Registration: Sendable {
        let sessions: OpenSessions
        let id: UInt64

        /// The session is over.
        public func end() {
            sessions.state.withLock { state in
                guard let session = state.sessions.removeValue(forKey: id) else { return }
                if let open = state.perStudent[session.studentID], open > 1 {
                    state.perStudent[session.studentID] = open - 1
                } else {
                    state.perStudent[session.studentID] = nil
                }
            }
        }
    }

    private struct Session {
        /// The certificate's serial, in lowercase hex.
        var serial: String
        var studentID: StudentID
        var writer: FrameWriter
    }

    private struct State {
        var sessions: [UInt64: Session] = [:]
        /// Open sessions by student; a student without any has no entry.
        var perStudent: [StudentID: Int] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The most sessions one student may have open at once.
    public let maximumPerStudent: Int

    /// 8: a student's own retries (four attempts) and a few uploads at once, with room to spare.
    public static let defaultMaximumPerStudent = 8

    public init(maximumPerStudent: Int = OpenSessions.defaultMaximumPerStudent) {
        precondition(maximumPerStudent > 0, "a student must be able to open a session")
        self.maximumPerStudent = maximumPerStudent
    }

    /// How many sessions are open.
    public var count: Int { state.withLock { $0.sessions.count } }

    /// How many sessions `student` has open.
    public func count(of student: StudentID) -> Int { state.withLock { $0.perStudent[student] ?? 0 } }

    /// Registers a session of `student` with the certificate `serial`.
    ///
    /// - Throws: ``CampusError`` `too-many-sessions` when the student has ``maximumPerStudent`` open already.
    public func register(serial: String, student: StudentID, writer: FrameWriter) throws(CampusError) -> Registration {
        let session = Session(serial: serial.lowercased(), studentID: student, writer: writer)
        let limit = maximumPerStudent
        let id: UInt64? = state.withLock { state in
            let open = state.perStudent[student] ?? 0
            guard open < limit else { return nil }
            state.perStudent[student] = open + 1
            state.nextID += 1
            state.sessions[state.nextID] = session
            return state.nextID
        }
        guard let id else {
            throw CampusError(
                .tooManySessions,
                "student \(student) already has \(limit) \(limit == 1 ? "session" : "sessions") open here, the most "
                    + "one student may have at once; try again when one has ended")
        }
        return Registration(sessions: self, id: id)
    }

    /// Ends every open session of the certificates in `revocations`, each with its `certificate-revoked`.
    ///
    /// - Returns: How many sessions were ended.
    @discardableResult
    public func end(_ revocations: [LearnedRevocation]) -> Int {
        guard !revocations.isEmpty else { return 0 }
        let bySerial = Dictionary(revocations.map { ($0.serial, $0) }) { first, _ in first }
        let ending = state.withLock { state in
            state.sessions.values.compactMap { session in bySerial[session.serial].map { (session.writer, $0) } }
        }
        for (writer, revocation) in ending { writer.interrupt(with: revocation.error(endingSession: true)) }
        return ending.count
    }
}
