import CampusPKI
import Logging

/// One enrollment connection (seed steps 1–2): moves frames between the connection and the ``AuthorityEnrollment``
/// state machine, and has the authority decide on the request.
///
/// 1. The hello is answered with CUHK's enrollment certificate, the root and a key share, signed.
/// 2. The sealed request (a CSR with the proof of a code, or a renewal) goes to the ``CertificateAuthority``, and
///    cert 2 goes back sealed; the connection then closes.
struct EnrollmentHandler: Sendable {
    let authority: CertificateAuthority
    let identity: AuthorityIdentity
    let observer: EnrollmentObserver

    func serve(_ frames: FrameChannel, logger: Logger) async throws {
        let observer = observer.logging(to: logger)
        let hello = try await frames.receivePayload()
        var machine = AuthorityEnrollment(
            credentials: try await identity.credentials(), rootPEM: authority.root.certificatePEM)
        let offer = try machine.receiveHello(hello)
        try await frames.writer.send(contentsOf: offer.messages)
        observer(offer.events)

        let (request, events) = try machine.receiveRequest(try await frames.receivePayload())
        observer(events)
        let issued: IssuedCertificate
        let renewing: String?
        let authorization: String
        switch request.body {
        case .enrollment(let csrPEM, let proof):
            let source = frames.remoteSocketAddress.flatMap(SourceAddress.init)
            (issued, _) = try await authority.issue(
                csrPEM: csrPEM, proof: proof, transcriptDigest: request.transcriptDigest, from: source)
            renewing = nil
            authorization = authority.enrollment == .open ? "open enrollment" : "the student's enrollment code"
        case .renewal(let certificatePEM, let csrPEM, let signature):
            let (current, standing) = try await authority.certificateToRenew(pem: certificatePEM)
            (issued, _) = try await authority.renew(
                current, standing: standing, transcriptDigest: request.transcriptDigest, csrPEM: csrPEM,
                signature: signature)
            renewing = current.serialNumber.hex
            authorization = "the current certificate's key"
        }
        let answer = machine.answer(certificatePEM: issued.pem)
        try await frames.writer.send(contentsOf: answer.messages)
        observer([
            .certificateIssued(
                studentID: issued.studentID, serial: issued.serial, renewing: renewing, authorization: authorization)
        ])
    }
}
