import CampusPKI
import Logging

/// One enrollment connection: one request, one answer (cert 2 or an error), then the connection closes.
struct EnrollmentHandler: Sendable {
    let authority: CertificateAuthority
    let reporter: StepReporter

    func serve(_ frames: FrameChannel, logger: Logger) async throws {
        let (message, _) = try await frames.receive()
        let csrPEM: String
        let code: String?
        switch message {
        case .enrollmentRequest(let pem):
            (csrPEM, code) = (pem, nil)
        case .codedEnrollmentRequest(let pem, let given):
            (csrPEM, code) = (pem, given)
        case .renewalRequest(let certificatePEM):
            try await renew(certificatePEM, on: frames, logger: logger)
            return
        default:
            let hint = message.kind == .uploadRequest ? " (this is CUHK; upload requests go to Blackboard)" : ""
            throw CampusError(
                .unexpectedMessage, "expected an enrollment request, got \(message.kind.phrase)\(hint)")
        }
        logger.info("CSR received", metadata: ["bytes": "\(csrPEM.utf8.count)"])
        let (issued, _) = try await authority.issue(csrPEM: csrPEM, code: code)
        logger.info("certificate issued", metadata: ["sid": "\(issued.studentID)", "serial": "\(issued.serial)"])
        reporter(.certificate, "CSR for SID \(issued.studentID) verified; cert 2 issued, serial \(issued.serial)")
        try await frames.send(
            .enrollmentCertificate(certificatePEM: issued.pem, rootPEM: authority.root.certificatePEM)
        )
    }

    /// The renewal conversation: certificate → challenge → proof → new certificate.
    private func renew(_ certificatePEM: String, on frames: FrameChannel, logger: Logger) async throws {
        let (current, record) = try await authority.certificateToRenew(pem: certificatePEM)
        let nonce = CertificateAuthority.renewalNonce()
        try await frames.send(.renewalChallenge(nonce: nonce))
        let (message, _) = try await frames.receive()
        guard case .renewalProof(let csrPEM, let signature) = message else {
            throw CampusError(.unexpectedMessage, "expected a renewal proof, got \(message.kind.phrase)")
        }
        let (issued, _) = try await authority.renew(current, nonce: nonce, csrPEM: csrPEM, signature: signature)
        logger.info(
            "certificate renewed",
            metadata: ["sid": "\(issued.studentID)", "serial": "\(issued.serial)", "old": "\(record.serial)"])
        reporter(
            .certificate,
            "Renewal for SID \(issued.studentID): cert 2 issued, serial \(issued.serial); \(record.serial) superseded")
        try await frames.send(
            .enrollmentCertificate(certificatePEM: issued.pem, rootPEM: authority.root.certificatePEM))
    }
}
