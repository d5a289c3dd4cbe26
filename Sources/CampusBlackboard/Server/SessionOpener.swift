import CampusPKI
import Foundation
import Logging
import NIOCore

/// Opens a session on a new connection: steps 3–5 and everything step 6 needs.
///
/// Blackboard's ``FramedServer`` runs this in a child task of the connection's task. A task's allocator keeps the
/// slabs of its deepest point for as long as the task lives, and a connection's task lives as long as the session,
/// most of it waiting for the student; so the deep, short work (the handshake, the certificate's verification, the
/// session's setup) ends with the child task, and the connection's task holds only an ``OpenedSession`` and the
/// small frames that wait for the next message.
struct SessionOpener: Sendable {
    let handshake: HandshakeDriver
    let revoked: RevokedCertificates
    let store: any ReportStore
    let maximumMessageSize: Int
    let limits: StorageLimits
    let idleTimeout: TimeAmount
    let timestamper: ReportTimestamper
    let reportsInFlight: ReportsInFlight

    /// Runs steps 3–5 on `frames` and prepares step 6.
    ///
    /// - Returns: The session, or `nil` when the connection only asked which assignments are open.
    func open(_ frames: FrameChannel, observer: SessionObserver, logger: Logger) async throws -> OpenedSession? {
        let started = ContinuousClock.now
        let handshaken: HandshakeDriver.Session
        do {
            // An assignments query is answered before any certificate, and ends the connection.
            guard let session = try await handshake.run(on: frames, observer: observer, logger: logger) else {
                return nil
            }
            handshaken = session
        } catch {
            let code = (error as? CampusError)?.code ?? .connectionClosed
            observer([.handshakeFinished(refusal: code, duration: ContinuousClock.now - started)])
            throw error
        }
        observer([.handshakeFinished(refusal: nil, duration: ContinuousClock.now - started)])
        let session = handshaken.established
        var logger = logger
        logger[metadataKey: "sid"] = "\(session.studentID)"
        // The handshake registered the session: a revocation learned from now on ends it; one learned before the
        // registration refuses it.
        let registration = handshaken.registration
        if let revocation = revoked.revocation(of: session.certificateSerial) {
            registration.end()
            throw revocation.error(endingSession: true)
        }
        frames.setTimeout(idleTimeout, waitingFor: "the next report message")
        let record = SessionRecord(
            sessionID: session.sessionID,
            studentID: session.studentID,
            certificateSerial: session.certificateSerial,
            peer: frames.remoteAddress,
            startedAt: Date(),
            assignment: handshaken.assignment
        )
        let receiver = ReportReceiver(
            store: store,
            maximumMessageSize: maximumMessageSize,
            limits: limits,
            storedBefore: handshaken.usage.storedBytes,
            credentials: handshaken.credentials,
            observer: observer.logging(to: logger),
            timestamper: timestamper,
            inFlight: reportsInFlight
        )
        return OpenedSession(
            established: session, record: record, receiver: receiver, registration: registration, logger: logger)
    }
}

/// An authenticated session waiting for its report: one object on the heap rather than values in the connection
/// task's async frames.
final class OpenedSession: FramedServer.OpenedConnection {
    let established: BlackboardHandshake.Established
    let record: SessionRecord
    let receiver: ReportReceiver
    let registration: OpenSessions.Registration
    let logger: Logger

    init(
        established: BlackboardHandshake.Established, record: SessionRecord, receiver: ReportReceiver,
        registration: OpenSessions.Registration, logger: Logger
    ) {
        self.established = established
        self.record = record
        self.receiver = receiver
        self.registration = registration
        self.logger = logger
    }

    /// Step 6: the report's messages, stored and acknowledged, then its receipt. When it returns or throws, the
    /// session's registration for revocations ends, and the connection's observer hears that the connection closed
    /// (the receiver's, which logs with the session's logger: the opener's logger is not kept).
    ///
    /// The first message is awaited here, in a small async frame: a session that has sent nothing yet holds only
    /// this one, not those of ``receive(startingWith:on:)`` and ``ReportReceiver`` (a task's allocator keeps its
    /// deepest point).
    func serve(_ frames: FrameChannel) async throws {
        defer { end() }
        let first = try await frames.receivePayload()
        try await receive(startingWith: first, on: frames)
    }

    @inline(never)
    private func receive(startingWith first: ByteBuffer, on frames: FrameChannel) async throws {
        _ = try await receiver.run(established, startingWith: first, record: record, on: frames, logger: logger)
    }

    @inline(never)
    private func end() {
        registration.end()
        receiver.observer([.connectionClosed])
    }
}
