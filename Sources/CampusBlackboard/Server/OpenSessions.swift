import CampusPKI
import Synchronization

/// The sessions open now, by the serial of the student's certificate, so that a revocation learned while a session
/// is open ends it.
///
/// One dictionary entry per session, by the session's number: revocations are rare, and finding a certificate's
/// sessions by looking at every entry costs less than a dictionary of sessions per certificate, which every open
/// session would keep.
public final class OpenSessions: Sendable {
    /// One session in the registry, until ``end()``.
    public struct Registration: Sendable {
        let sessions: OpenSessions
        let id: UInt64

        /// The session is over.
        public func end() {
            _ = sessions.state.withLock { $0.sessions.removeValue(forKey: id) }
        }
    }

    private struct Session {
        /// The certificate's serial, in lowercase hex.
        var serial: String
        var writer: FrameWriter
    }

    private struct State {
        var sessions: [UInt64: Session] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many sessions are open.
    public var count: Int { state.withLock { $0.sessions.count } }

    /// Registers a session of the certificate `serial`.
    public func register(serial: String, writer: FrameWriter) -> Registration {
        let session = Session(serial: serial.lowercased(), writer: writer)
        let id = state.withLock { state in
            state.nextID += 1
            state.sessions[state.nextID] = session
            return state.nextID
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
