import CampusPKI
import NIOCore

/// One enrollment channel with CUHK, driven by the Student's state machine, for tests that send requests no
/// `student` would (bad CSRs, requests without the client's own checks).
enum EnrollmentExchange {
    /// What CUHK answered.
    enum Answer: Sendable {
        /// Cert 2, PEM.
        case certificate(String)
        /// An error frame.
        case refused(CampusError)
    }

    /// Runs hello, offer, signature, the sealed request and the answer.
    ///
    /// - Throws: The machine's failure when CUHK cannot be authenticated or answers something else.
    static func run(
        _ address: ServerAddress, request: StudentEnrollment.Request, trust: RootTrust = .firstUse
    ) async throws -> Answer {
        try await FramedClient.withConnection(to: address) { frames in
            var machine = StudentEnrollment(request: request, trust: trust)
            var output = machine.start()
            while true {
                try await frames.writer.send(contentsOf: output.messages)
                if let pem = output.certificatePEM { return .certificate(pem) }
                do {
                    output = try await machine.receive(try await frames.receivePayload())
                } catch StudentEnrollment.Failure.refused(let error) {
                    return .refused(error)
                }
            }
        }
    }

    /// The certificate for a CSR (open enrollment, or with `code`), or `nil` when CUHK refused.
    static func certificate(_ address: ServerAddress, csrPEM: String, code: EnrollmentCode? = nil) async throws
        -> String?
    {
        guard case .certificate(let pem) = try await run(address, request: .enrollment(csrPEM: csrPEM, code: code))
        else { return nil }
        return pem
    }

    /// The code CUHK refused a CSR with, or `nil` when it issued a certificate.
    static func refusal(_ address: ServerAddress, csrPEM: String, code: EnrollmentCode? = nil) async throws
        -> CampusError.Code?
    {
        guard case .refused(let error) = try await run(address, request: .enrollment(csrPEM: csrPEM, code: code))
        else { return nil }
        return error.code
    }
}
