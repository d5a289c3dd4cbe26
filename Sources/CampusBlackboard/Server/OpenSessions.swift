import CampusPKI
import Synchronization

/// The sessions open now, by the serial of the student's certificate, so that a revocation learned while a session
/// is open ends it.
public final class OpenSessions: Sendable {
    /// One session in the registry, until ``end()``.
    public struct Registration: Sendable {
        let sessions: OpenSessions
        let serial: String
        let id: UInt64

        /// The session is over.
        public func end() {
            sessions.state.withLock { state in
                state.bySerial[serial]?[id] = nil
                if state.bySerial[serial]?.isEmpty == true { state.bySerial[serial] = nil }
            }
        }
    }

    private struct State {
        var bySerial: [String: [UInt64: FrameWriter]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many sessions are open.
    public var count: Int { state.withLock { $0.bySerial.values.reduce(0) { $0 + $1.count } } }

    /// Registers a session of the certificate `serial`.
    public func register(serial: String, writer: FrameWriter) -> Registration {
        let serial = serial.lowercased()
        let id = state.withLock { state in
            state.nextID += 1
            state.bySerial[serial, default: [:]][state.nextID] = writer
            return state.nextID
        }
        return Registration(sessions: self, serial: serial, id: id)
    }

    /// Ends every open session of the certificates in `revocations`, each with its `certificate-revoked`.
    ///
    /// - Returns: How many sessions were ended.
    @discardableResult
    public func end(_ revocations: [LearnedRevocation]) -> Int {
        let ending = state.withLock { state in
            revocations.flatMap { revocation in
                (state.bySerial[revocation.serial] ?? [:]).values.map { ($0, revocation) }
            }
        }
        for (writer, revocation) in ending { writer.interrupt(with: revocation.error(endingSession: true)) }
        return ending.count
    }
}
