import NIOCore

/// The plaintext of the Student's sealed record (docs/PROTOCOL.md section 4.3): what it asks CUHK for.
public enum EnrollmentRequestBody: Sendable, Hashable {
    /// A new certificate: the CSR (PEM) and the proof of the enrollment code (32 bytes), or no proof (empty) for a CUHK
    /// with open enrollment.
    case enrollment(csrPEM: String, proof: [UInt8])
    /// A new certificate for a new key, authorized by the current one: the current certificate (PEM), the new CSR
    /// (PEM) and the ``RenewalProof`` signature.
    case renewal(certificatePEM: String, csrPEM: String, signature: [UInt8])

    /// The record type that carries it.
    public var kind: WireMessage.Kind {
        switch self {
        case .enrollment: .enrollmentRequest
        case .renewal: .renewalRequest
        }
    }

    /// The CSR, PEM.
    public var csrPEM: String {
        switch self {
        case .enrollment(let csrPEM, _), .renewal(_, let csrPEM, _): csrPEM
        }
    }

    /// The plaintext bytes.
    public var encoded: [UInt8] {
        var buffer = ByteBuffer()
        switch self {
        case .enrollment(let csrPEM, let proof):
            buffer.writeField(Array(csrPEM.utf8))
            buffer.writeField(proof)
        case .renewal(let certificatePEM, let csrPEM, let signature):
            buffer.writeField(Array(certificatePEM.utf8))
            buffer.writeField(Array(csrPEM.utf8))
            buffer.writeField(signature)
        }
        return Array(buffer.readableBytesView)
    }

    /// Reads the plaintext of a record of type `kind`.
    ///
    /// - Throws: ``CampusError`` `malformed-message` when it does not have the layout of its type, or the proof is
    ///   neither empty nor 32 bytes.
    public static func decode(_ plaintext: [UInt8], kind: WireMessage.Kind) throws(CampusError) -> Self {
        var buffer = ByteBuffer(bytes: plaintext)
        let body: Self
        do {
            switch kind {
            case .enrollmentRequest:
                let csrPEM = try buffer.readTextField(named: "csr")
                let proof = try buffer.readField(named: "proof")
                guard proof.isEmpty || proof.count == EnrollmentCodeProof.length else {
                    throw CampusError(
                        .malformedMessage,
                        "the code proof has \(proof.count) bytes; it is empty or \(EnrollmentCodeProof.length)")
                }
                body = .enrollment(csrPEM: csrPEM, proof: proof)
            case .renewalRequest:
                body = .renewal(
                    certificatePEM: try buffer.readTextField(named: "certificate"),
                    csrPEM: try buffer.readTextField(named: "csr"),
                    signature: try buffer.readField(named: "signature"))
            default:
                throw CampusError(.unexpectedMessage, "\(kind.phrase) carries no request")
            }
        } catch let error as CampusError {
            throw error
        } catch {
            throw CampusError(.malformedMessage, "the request cannot be read", cause: error)
        }
        guard buffer.readableBytes == 0 else {
            throw CampusError(
                .malformedMessage, "\(Count.of(buffer.readableBytes, "unexpected byte")) after the end of the request")
        }
        return body
    }
}
