import Logging

/// Turns ``SessionEvent`` values into the lines a terminal shows and the entries the log keeps.
///
/// This is the only place that words a session's steps. With `explain`, each step line is followed by the public
/// values of that step (sizes, fingerprints, the transcript hash, nonces, the first bytes of ciphertexts, the
/// signature algorithm), so a learner can follow the protocol; events hold no secret, so none can be shown.
public struct SessionObserver: Sendable {
    /// Whose terminal the lines are for.
    public enum Side: Sendable {
        case student
        case blackboard
    }

    /// Receives every event as it is, for metrics.
    public typealias Sink = @Sendable (SessionEvent) -> Void

    public var side: Side
    public var explain: Bool
    public var reporter: StepReporter?
    public var logger: Logger?
    public var sinks: [Sink]

    public init(
        side: Side, explain: Bool = false, reporter: StepReporter? = nil, logger: Logger? = nil, sinks: [Sink] = []
    ) {
        self.side = side
        self.explain = explain
        self.reporter = reporter
        self.logger = logger
        self.sinks = sinks
    }

    /// Shows, logs and hands on each event; the lines of all of them go to the terminal in one write.
    public func callAsFunction(_ events: [SessionEvent]) {
        show(CollectionOfOne(recording(events)))
    }

    /// The terminal lines of some events, made when they happened and shown later by ``show(_:)``.
    public struct PendingLines: Sendable {
        fileprivate var lines: [(step: SeedStep, text: String)] = []
    }

    /// Logs and hands on each event now, and makes its terminal lines (with `explain`, its details too, so the event's
    /// values need not be kept) for ``show(_:)`` to show later: a task that handles many events in a row, such as the
    /// messages of one commit, shows them together in one write.
    public func recording(_ events: [SessionEvent]) -> PendingLines {
        var pending = PendingLines()
        for event in events {
            if reporter != nil {
                for line in Self.lines(for: event, side: side, explain: explain) {
                    pending.lines.append((event.step, line))
                }
            }
            log(event)
            for sink in sinks { sink(event) }
        }
        return pending
    }

    /// Shows lines made by ``recording(_:)``, in order, in one write to the terminal (``Terminal/gathering(_:)``).
    public func show(_ pending: some Collection<PendingLines>) {
        guard let reporter else { return }
        let count = pending.reduce(0) { $0 + $1.lines.count }
        guard count > 1 else {
            for part in pending { for line in part.lines { reporter(line.step, line.text) } }
            return
        }
        Terminal.gathering {
            for part in pending {
                for line in part.lines { reporter(line.step, line.text) }
            }
        }
    }

    /// The same observer with another logger (a connection's, with its metadata).
    public func logging(to logger: Logger) -> SessionObserver {
        var copy = self
        copy.logger = logger
        return copy
    }

    /// The terminal lines of one event: the step line, then, with `explain`, its public values indented; none for
    /// the events that only measure.
    public static func lines(for event: SessionEvent, side: Side, explain: Bool) -> [String] {
        // The details are made only when they are shown: hex strings cost more than the step itself.
        guard let (line, details) = describe(event, side: side) else { return [] }
        guard explain else { return [line] }
        return [line] + details().map { "    · " + $0 }
    }

    private static func describe(_ event: SessionEvent, side: Side) -> (String, () -> [String])? {
        switch event {
        case .connectionOpened, .connectionClosed, .handshakeFinished, .committed:
            return nil
        case .requestSent(let studentID, let assignment, let fingerprint, let keyShare, let nonce):
            return (
                "Send \"\(UploadRequestText.make(for: studentID))\" with cert 2"
                    + (assignment.isEmpty ? "" : " for \(assignment)"),
                {
                    [
                        "cert 2 SHA-256 fingerprint \(fingerprint)",
                        "ephemeral X25519 key share \(hex(keyShare))",
                        "nonce \(hex(nonce))",
                    ]
                }
            )
        case .requestReceived(let studentID, let requestText, let assignment, let keyShare, let nonce):
            return (
                "Get cert2 from Student \(studentID): \"\(requestText)\""
                    + (assignment.isEmpty ? "" : " for \(assignment)"),
                { ["student's X25519 key share \(hex(keyShare))", "student's nonce \(hex(nonce))"] }
            )
        case .studentCertificateVerified(let studentID, let serial, let certificate):
            return (
                "Cert Check success! SID \(studentID), serial \(serial)",
                { ["cert 2 chains to the CUHK root; SHA-256 fingerprint \(certificate.sha256Fingerprint)"] }
            )
        case .sessionKeySent(let studentID, let assignment, let encrypted, let keyShare, let transcript, let signature):
            return (
                "Session key encrypted to cert 2 and handshake signed; sent to \(studentID) for \(assignment)",
                {
                    [
                        "RSA-OAEP-SHA256 ciphertext \(encrypted.count) bytes, begins \(prefix(encrypted))",
                        "Blackboard's X25519 key share \(hex(keyShare))",
                        "transcript hash (steps 3–4) \(hex(transcript))",
                        "signature ECDSA P-256 SHA-256, \(signature.count) bytes DER",
                    ]
                }
            )
        case .blackboardAuthenticated(let name, let serial, let fingerprint, let transcript, let signature):
            return (
                "Blackboard authenticated: CUHK issued its certificate for \(name) (serial \(serial)), "
                    + "and its signature over the handshake verifies",
                {
                    [
                        "Blackboard's certificate SHA-256 fingerprint \(fingerprint)",
                        "transcript hash (steps 3–4) \(hex(transcript))",
                        "signature ECDSA P-256 SHA-256, \(signature.count) bytes DER",
                    ]
                }
            )
        case .sessionKeyDecrypted(let encrypted, let assignment, let deadline):
            return (
                "Encrypted session key received and decrypted with the private key; submitting to \(assignment)"
                    + (deadline.isEmpty ? " (no deadline)" : " (deadline \(deadline))"),
                {
                    [
                        "RSA-OAEP-SHA256 ciphertext \(encrypted.count) bytes, begins \(prefix(encrypted))",
                        "keys: HKDF-SHA256 over the session key and the X25519 shared secret, salted with the transcript",
                    ]
                }
            )
        case .established(let studentID, let sessionID, let transcript):
            return (
                side == .student ? "Session secure!" : "Session secure! SID \(studentID)",
                { ["session ID \(hex(sessionID))", "transcript hash (steps 3–5) \(hex(transcript))"] }
            )
        case .messageSent(let sequence, let content, let sealed):
            return (
                "Send #\(sequence): \(MessageDisplay.text(content))",
                { sealedDetails(sealed) }
            )
        case .messageReceived(let studentID, let sequence, let content, let sealed):
            return (
                "receive from \(studentID) #\(sequence): \(MessageDisplay.text(content)) (Valid message!)",
                { sealedDetails(sealed) }
            )
        case .messageAcknowledged(let sequence):
            return ("Blackboard stored message #\(sequence)", { [] })
        case .receiptSigned(let studentID, let document, let size):
            return (
                "Report \(document.report) from \(studentID) for \(document.assignment) complete: "
                    + "\(Count.of(Int(document.messageCount), "message")), \(Count.of(Int(document.totalBytes), "byte")), "
                    + "\(document.isLate ? "late" : "on time")\(timeSource(document)); receipt signed",
                {
                    [
                        "content SHA-256 \(document.contentSHA256.hexString)",
                        "receipt: CMS SignedData, \(size) bytes, signed with Blackboard's ECDSA P-256 key",
                    ] + timestampDetails(document)
                }
            )
        case .receiptVerified(let document, let size):
            return (
                "Receipt for report \(document.report) verified: \(document.assignment), committed "
                    + "\(ReceiptDocument.timestamp(document.committedAt))\(timeSource(document)), "
                    + "\(document.isLate ? "late" : "on time")",
                {
                    [
                        "content SHA-256 \(document.contentSHA256.hexString) matches what was sent",
                        "receipt: CMS SignedData, \(size) bytes, chains to the pinned CUHK root",
                    ] + timestampDetails(document)
                }
            )
        }
    }

    /// Whose time the receipt's commit time is, for a step line.
    private static func timeSource(_ document: ReceiptDocument) -> String {
        switch document.timestamp {
        case .none: ""
        case .cuhk: " by CUHK's timestamp"
        case .withoutTimestamp: " (no CUHK timestamp: Blackboard's clock)"
        }
    }

    /// The token's size, for `--explain`.
    private static func timestampDetails(_ document: ReceiptDocument) -> [String] {
        guard case .cuhk(let token) = document.timestamp else { return [] }
        return [
            "CUHK's RFC 3161 token, \(token.count) bytes, over SHA-256 of the timestamped-report text "
                + TimestampedReport(receipt: document).imprint.hashedMessage.hexString
        ]
    }

    private static func sealedDetails(_ sealed: [UInt8]) -> [String] {
        let tag = sealed.suffix(WireMessage.tagLength)
        let ciphertext = sealed.dropLast(WireMessage.tagLength)
        return [
            "ChaCha20-Poly1305 ciphertext \(ciphertext.count) bytes, begins \(prefix(Array(ciphertext)))",
            "tag (the seed's HMAC) \(Array(tag).hexString)",
        ]
    }

    /// Lower-case hex of the first 8 bytes, with an ellipsis when there are more (the size is said beside it).
    static func prefix(_ bytes: [UInt8]) -> String {
        Array(bytes.prefix(8)).hexString + (bytes.count > 8 ? "…" : "")
    }

    /// Lower-case hex of the first `limit` bytes, with an ellipsis and the size when there are more.
    static func hex(_ bytes: [UInt8], limit: Int = 32) -> String {
        guard bytes.count > limit else { return bytes.hexString }
        return Array(bytes.prefix(limit)).hexString + "… (\(bytes.count) bytes)"
    }

    private func log(_ event: SessionEvent) {
        guard let logger else { return }
        switch event {
        case .established(let studentID, _, _):
            logger.info("session established", metadata: ["sid": "\(studentID)"])
        case .receiptSigned(let studentID, let document, _):
            logger.info(
                "report complete",
                metadata: [
                    "sid": "\(studentID)", "report": "\(document.report)", "assignment": "\(document.assignment)",
                    "messages": "\(document.messageCount)", "bytes": "\(document.totalBytes)",
                    "late": "\(document.isLate)",
                    "timestamp":
                        "\(document.timestamp.map { if case .cuhk = $0 { "cuhk" } else { "none" } } ?? "none")",
                ])
        case .blackboardAuthenticated(let name, let serial, _, _, _):
            logger.debug("blackboard authenticated", metadata: ["name": "\(name)", "serial": "\(serial)"])
        default:
            break
        }
    }
}
