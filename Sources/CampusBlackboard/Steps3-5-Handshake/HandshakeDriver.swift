import CampusPKI
import Foundation
import Logging
import NIOCore
import X509

/// Seed steps 3–5 on Blackboard's side, for one connection: moves frames between the connection and the
/// ``BlackboardHandshake`` state machine, and supplies what the machine cannot compute itself.
///
/// 3. The request: the machine checks its text; here cert 2 is verified (chain to `cuhk.cer`, CampusPKI's rules,
///    CUHK's OCSP responder) and the assignment is looked up in `blackboard.db`.
/// 4. The machine sends Blackboard's certificate, key share and the session key encrypted to cert 2, and signs
///    the transcript.
/// 5. The machine checks the student's key confirmation; here the session is registered (at most
///    ``OpenSessions/maximumPerStudent`` per student), and Blackboard's confirmation goes out.
struct HandshakeDriver {
    let roots: TrustedRootStore
    let credentials: ServiceCredentialStore
    let store: any ReportStore
    let minimumKeyBits: Int
    let revocation: RevocationPolicy.Mode
    let ocspCache: OCSPResponseCache
    let failingResponders: FailingResponders
    /// What CUHK's revocation lists said; consulted before OCSP.
    let revoked: RevokedCertificates
    /// Watches the revocation list beside each OCSP responder a verified cert 2 names.
    let revocationList: RevocationListPoller
    /// The frame limit once the student is authenticated (until then, handshake messages only).
    let sessionFrameSize: Int
    /// What one student may store.
    let limits: StorageLimits
    /// The sessions open now: a revocation ends them, and they bound how many one student may have.
    let openSessions: OpenSessions
    /// How long one OCSP request may take (the server's configuration; ``defaultOCSPTimeout`` by default).
    let ocspTimeout: TimeAmount
    /// How many of this server's requests to CUHK may be under way at once: its OCSP requests and its timestamp
    /// requests share it.
    let ocspGate: RequestGate

    /// How long one OCSP request may take, connecting included.
    static let defaultOCSPTimeout = TimeAmount.seconds(BlackboardServer.ocspTimeoutSeconds)

    /// What the handshake established, with the assignment and the credentials that signed it (they sign the
    /// receipt too, even if the files change meanwhile).
    struct Session {
        var established: BlackboardHandshake.Established
        var assignment: Assignment
        var credentials: BlackboardHandshake.Credentials
        /// What the student had stored when the session began.
        var usage: StudentUsage
        /// The session's place among the open sessions, until it ends.
        var registration: OpenSessions.Registration
    }

    /// Runs steps 3–5, or answers an assignments query.
    ///
    /// - Returns: The session, or `nil` when the connection only asked which assignments are open (and has its
    ///   answer).
    func run(on frames: FrameChannel, observer: SessionObserver, logger: Logger) async throws -> Session? {
        var machine = BlackboardHandshake()

        // Step 3, or the question a Student asks before it enrolls.
        let requestPayload = try await frames.receivePayload()
        if (try? WireMessage.decode(requestPayload)) == .assignmentsQuery {
            try await frames.send(.assignmentList(try await Self.openAssignments(in: store)))
            logger.debug("answered an assignments query")
            return nil
        }
        let (request, events) = try machine.receiveRequest(requestPayload)
        observer(events)
        let identity = try credentials.current()
        let root = try roots.currentRoot()
        // Verification runs in this task, which is the opener's (`SessionOpener`) and ends with the handshake: its deep
        // async frames do not stay with the session for as long as it is open.
        var requester = OCSPHTTPRequester(
            client: RevocationHTTPClient.shared, cache: ocspCache, failures: failingResponders, issuer: root,
            timeout: ocspTimeout)
        requester.gate = ocspGate
        let revocationList = revocationList
        requester.responderNamed = { revocationList.watch(responder: $0) }
        let revoked = revoked
        let revocationPolicy = RevocationPolicy(
            mode: revocation, requester: requester,
            revocationListed: { revoked.revocation(of: $0)?.error(endingSession: false) },
            memo: OCSPCheckMemo(cache: ocspCache, served: requester.served), logger: logger)
        let certificate = try await StudentCertificateVerifier(
            root: root, minimumKeyBits: minimumKeyBits, revocation: revocationPolicy
        ).verify(certificatePEM: request.request.certificatePEM, for: request.studentID)
        let (assignment, usage) = try await store.sessionContext(
            for: request.studentID, requesting: request.request.assignment, at: Date())
        try limits.checkNewReport(usage, assignment: assignment.name)

        // Step 4.
        let offer = try machine.offer(
            to: certificate, assignment: assignment.name, deadline: assignment.deadlineText, credentials: identity)
        try await frames.writer.send(contentsOf: offer.messages)
        observer(offer.events)

        // Step 5.
        let confirmationPayload = try await frames.receivePayload()
        let confirmed = try machine.receiveConfirmation(confirmationPayload)
        guard let established = confirmed.established else {
            throw CampusError(.internalError, "the handshake ended without a session")
        }
        // The student is authenticated: its session counts from now on (not before, or anyone presenting a
        // classmate's certificate could use up the classmate's sessions), and `too-many-sessions` goes out in place
        // of `sessionSecure` when it has as many open as one student may.
        let registration = try openSessions.register(
            serial: established.certificateSerial, student: established.studentID, writer: frames.writer)
        do {
            // Report messages may be large now. Raised before `sessionSecure` goes out, since the student's first
            // message may follow it at once.
            frames.raiseFrameLimit(to: sessionFrameSize)
            try await frames.writer.send(contentsOf: confirmed.messages)
        } catch {
            registration.end()
            throw error
        }
        observer(confirmed.events)
        return Session(
            established: established, assignment: assignment, credentials: identity, usage: usage,
            registration: registration)
    }

    /// The open assignments, oldest first, as an `assignmentList` carries them (at most
    /// ``WireMessage/maximumListedAssignments``).
    static func openAssignments(in store: any ReportStore) async throws -> [ListedAssignment] {
        try await store.assignments().filter(\.isOpen).prefix(WireMessage.maximumListedAssignments).map {
            ListedAssignment(name: $0.name, deadline: $0.deadlineText, refusesLate: $0.late == .refuse)
        }
    }
}
