import X509

extension DistinguishedName {
    /// Every common name (CN) in the name, in order.
    public var commonNames: [String] {
        flatMap { rdn in
            rdn.filter { $0.type == .RDNAttributeType.commonName }.map { $0.value.description }
        }
    }

    /// The student ID this name stands for: exactly one CN, and it is ten digits.
    public var studentID: StudentID? {
        let names = commonNames
        guard names.count == 1 else { return nil }
        return StudentID(names[0])
    }
}

extension VerifierPolicy {
    /// A policy failure that carries a CampusPKI error code at the start of its reason, so that
    /// ``StudentCertificateVerifier`` can send the right code to the peer.
    static func failure(_ code: CampusError.Code, _ reason: String) -> PolicyEvaluationResult {
        .failsToMeetPolicy(reason: "\(code.name): \(reason)")
    }
}
