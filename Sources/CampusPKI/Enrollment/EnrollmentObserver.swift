import Logging

/// Turns ``EnrollmentEvent`` values into the lines a terminal shows and the entries the log keeps.
///
/// Without `explain`, the Student shows that CUHK was authenticated and `Get Cert2!`, and CUHK shows each certificate
/// it issues, as before the channel existed. With `explain`, every event gets a line, followed by the public values
/// of that step (key shares, nonces, fingerprints, the transcript hash, digests, sizes); events hold no secret, so
/// none can be shown.
public struct EnrollmentObserver: Sendable {
    /// Whose terminal the lines are for.
    public enum Side: Sendable {
        case student
        case authority
    }

    public var side: Side
    public var explain: Bool
    public var reporter: StepReporter?
    public var logger: Logger?

    public init(side: Side, explain: Bool = false, reporter: StepReporter? = nil, logger: Logger? = nil) {
        self.side = side
        self.explain = explain
        self.reporter = reporter
        self.logger = logger
    }

    /// Shows and logs each event.
    public func callAsFunction(_ events: [EnrollmentEvent]) {
        for event in events {
            if let reporter {
                for line in Self.lines(for: event, explain: explain) { reporter(event.step, line) }
            }
            log(event)
        }
    }

    /// The same observer with another logger (a connection's, with its metadata).
    public func logging(to logger: Logger) -> EnrollmentObserver {
        var copy = self
        copy.logger = logger
        return copy
    }

    /// The terminal lines of one event: the step line, then, with `explain`, its public values indented. Events that
    /// only `explain` shows give no line without it.
    public static func lines(for event: EnrollmentEvent, explain: Bool) -> [String] {
        let (line, details, always) = describe(event)
        guard explain else { return always ? [line] : [] }
        return [line] + details().map { "    · " + $0 }
    }

    private static func hex(_ bytes: [UInt8]) -> String { SessionObserver.hex(bytes) }

    private static func describe(_ event: EnrollmentEvent) -> (String, () -> [String], Bool) {
        switch event {
        case .helloSent(let keyShare, let nonce):
            return (
                "Enrollment channel opened: hello sent to CUHK",
                { ["ephemeral X25519 key share \(hex(keyShare))", "nonce \(hex(nonce))"] }, false
            )
        case .authorityAuthenticated(
            let serial, let fingerprint, let root, let source, let keyShare, let transcript, let signatureSize):
            let trust: String =
                switch source {
                case .pinned(let path): "pinned in \(path)"
                case .fingerprint: "equal to --root-fingerprint"
                case .firstUse: "trusted on first use"
                }
            return (
                "CUHK authenticated: its certificate for \(EnrollmentChannel.authorityName) (serial \(serial)) chains "
                    + "to the CUHK root, and its signature over the handshake verifies",
                {
                    [
                        "CUHK's certificate SHA-256 fingerprint \(fingerprint)",
                        "root SHA-256 fingerprint \(root) (\(trust))",
                        "CUHK's X25519 key share \(hex(keyShare))",
                        "transcript hash (hello, offer) \(hex(transcript))",
                        "signature ECDSA P-256 SHA-256, \(signatureSize) bytes DER",
                    ]
                }, true
            )
        case .requestSent(let kind, let digest, let withProof, let size):
            let proof: String =
                switch (kind, withProof) {
                case (.renewalRequest, _):
                    "renewal proof: RSASSA-PSS by the current key over the transcript and the new CSR"
                case (_, true):
                    "code proof: HMAC-SHA256 keyed with the code's SHA-256 over the transcript and the CSR; the code "
                        + "itself is not sent"
                default: "no code proof (for a CUHK with open enrollment)"
                }
            return (
                "\(kind == .renewalRequest ? "Renewal request" : "CSR") sent sealed to CUHK",
                {
                    [
                        "CSR SHA-256 \(digest.hexString)", proof,
                        "ChaCha20-Poly1305 record, \(size) bytes; key from HKDF-SHA256 over the X25519 shared secret, "
                            + "salted with the transcript",
                    ]
                }, false
            )
        case .certificateReceived(let serial, let fingerprint, let notAfter, let renewing):
            return (
                renewing.map { "Get Cert2! (renewed; \($0) is superseded)" } ?? "Get Cert2!",
                {
                    [
                        "cert 2 serial \(serial), valid until \(notAfter.formatted(.iso8601))",
                        "cert 2 SHA-256 fingerprint \(fingerprint)",
                        "it chains to the CUHK root and holds this student's key",
                    ]
                }, true
            )
        case .helloReceived(let keyShare, let nonce):
            return (
                "Enrollment hello received",
                { ["student's X25519 key share \(hex(keyShare))", "student's nonce \(hex(nonce))"] }, false
            )
        case .offerSent(let serial, let keyShare, let transcript, let signatureSize):
            return (
                "CUHK's certificate (serial \(serial)), the root and a key share sent; handshake signed",
                {
                    [
                        "CUHK's X25519 key share \(hex(keyShare))",
                        "transcript hash (hello, offer) \(hex(transcript))",
                        "signature ECDSA P-256 SHA-256, \(signatureSize) bytes DER",
                    ]
                }, false
            )
        case .requestReceived(let kind, let digest, let size):
            return (
                "\(kind == .renewalRequest ? "Renewal request" : "Enrollment request") opened",
                {
                    ["ChaCha20-Poly1305 record, \(size) bytes"] + (digest.map { ["CSR SHA-256 \($0.hexString)"] } ?? [])
                },
                false
            )
        case .certificateIssued(let studentID, let serial, let renewing, let authorization):
            let line =
                renewing.map { "Renewal for SID \(studentID): cert 2 issued, serial \(serial); \($0) superseded" }
                ?? "CSR for SID \(studentID) verified; cert 2 issued, serial \(serial)"
            return (line, { ["authorized by \(authorization)", "cert 2 sent sealed with the authority key"] }, true)
        }
    }

    private func log(_ event: EnrollmentEvent) {
        guard let logger else { return }
        switch event {
        case .certificateIssued(let studentID, let serial, let renewing, let authorization):
            var metadata: Logger.Metadata = [
                "sid": "\(studentID)", "serial": "\(serial)", "authorization": "\(authorization)",
            ]
            if let renewing { metadata["old"] = "\(renewing)" }
            logger.info(renewing == nil ? "certificate issued" : "certificate renewed", metadata: metadata)
        case .requestReceived(let kind, _, let size):
            logger.info(
                kind == .renewalRequest ? "renewal request received" : "CSR received", metadata: ["bytes": "\(size)"])
        default:
            break
        }
    }
}
