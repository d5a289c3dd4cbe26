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
}
