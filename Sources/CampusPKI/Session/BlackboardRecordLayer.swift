/// Step 6 on Blackboard's side: opens the student's messages in order, and seals acknowledgements and the receipt.
///
/// The checks on each message, in order: the tag verifies for its type and sequence number as received
/// (`message-authentication-failed`), the number is the next one (`replayed-message`, `out-of-order-message`), the
/// content is within the limit (`message-too-large`); the end of the report carries nothing or a valid file
/// description (`malformed-message`).
public struct BlackboardRecordLayer: Sendable {
    /// What an incoming message was.
    public enum Incoming: Sendable, Equatable {
        /// A verified message: its number, its content, and the sealed bytes as they travelled.
        case message(sequence: UInt64, content: [UInt8], sealed: [UInt8])
        /// The verified end of a report of this many messages, with the file it came from when the student said.
        case end(messageCount: UInt64, file: SubmittedFile?)
        /// A keep-alive (not authenticated; it only restarts the idle timer).
        case keepAlive
    }

    private let incoming: RecordProtection
    /// Seals what Blackboard sends; stateless, so the task that commits can hold its own copy.
    public let outgoing: Sealer
    /// The number the next message must carry.
    public private(set) var expected: UInt64 = 1
    /// Whether the report has ended.
    public private(set) var ended = false

    public init(schedule: SessionKeySchedule) {
        incoming = RecordProtection(key: schedule.studentMessageKey, direction: .studentToBlackboard)
        outgoing = Sealer(
            protection: RecordProtection(key: schedule.blackboardMessageKey, direction: .blackboardToStudent))
    }

    /// Opens one message of step 6.
    ///
    /// - Parameter maximumMessageSize: The largest content accepted.
    public mutating func open(_ message: WireMessage, maximumMessageSize: Int) throws(CampusError) -> Incoming {
        guard !ended else {
            throw CampusError(.unexpectedMessage, "\(message.kind.phrase) after the end of the report")
        }
        switch message {
        case .reportMessage(let sequence, let sealed):
            guard let content = incoming.open(sealed, kind: .reportMessage, sequence: sequence) else {
                throw CampusError(
                    .messageAuthenticationFailed,
                    "the tag of message \(sequence) does not verify; the message was altered or not sent by this "
                        + "session's student")
            }
            try check(sequence, what: "message \(sequence)")
            guard content.count <= maximumMessageSize else {
                throw CampusError(
                    .messageTooLarge,
                    "message \(sequence) has \(content.count) bytes; the maximum is \(maximumMessageSize)")
            }
            expected += 1
            return .message(sequence: sequence, content: content, sealed: sealed)
        case .endOfReport(let sequence, let sealed):
            guard let plaintext = incoming.open(sealed, kind: .endOfReport, sequence: sequence) else {
                throw CampusError(.messageAuthenticationFailed, "the tag of the end of the report does not verify")
            }
            try check(sequence, what: "the end of the report")
            let file = try SubmittedFile.decode(plaintext: plaintext)
            ended = true
            return .end(messageCount: sequence - 1, file: file)
        case .keepAlive:
            return .keepAlive
        default:
            throw CampusError(.unexpectedMessage, "expected a report message or its end, got \(message.kind.phrase)")
        }
    }

    /// A number below the expected one has been used already (a replay); one above skips messages.
    private func check(_ sequence: UInt64, what: String) throws(CampusError) {
        if sequence < expected {
            throw CampusError(
                .replayedMessage, "\(what) carries number \(sequence), already used; expected \(expected)")
        }
        if sequence > expected {
            throw CampusError(.outOfOrderMessage, "\(what) carries number \(sequence) while \(expected) was expected")
        }
    }

    /// Seals Blackboard's messages of step 6.
    public struct Sealer: Sendable {
        let protection: RecordProtection

        /// The acknowledgement of message `sequence`.
        public func acknowledgement(_ sequence: UInt64) -> WireMessage {
            .messageAcknowledged(
                sequence: sequence, sealed: protection.seal([UInt8](), kind: .messageAcknowledged, sequence: sequence))
        }

        /// The receipt of a report of `messageCount` messages.
        public func receipt(_ signedReceipt: [UInt8], messageCount: UInt64) -> WireMessage {
            .receipt(
                sequence: messageCount + 1,
                sealed: protection.seal(signedReceipt, kind: .receipt, sequence: messageCount + 1))
        }
    }
}
