/// Step 6 on the Student's side: seals messages and the end of the report, opens Blackboard's acknowledgements and
/// the receipt, and keeps the sequence numbers of both directions.
public struct StudentRecordLayer: Sendable {
    /// What an authenticated message from Blackboard said.
    public enum Incoming: Sendable, Equatable {
        /// The message with this number is stored durably.
        case acknowledged(UInt64)
        /// The signed receipt (CMS, DER).
        case receipt([UInt8])
    }

    private let outgoing: RecordProtection
    private let incoming: RecordProtection
    /// Messages sealed so far.
    public private(set) var sent: UInt64 = 0
    /// Messages Blackboard has acknowledged, always a prefix of those sent.
    public private(set) var acknowledged: UInt64 = 0
    /// Whether the end of the report was sealed.
    public private(set) var ended = false

    public init(schedule: SessionKeySchedule) {
        outgoing = RecordProtection(key: schedule.studentMessageKey, direction: .studentToBlackboard)
        incoming = RecordProtection(key: schedule.blackboardMessageKey, direction: .blackboardToStudent)
    }

    /// The next report message.
    public mutating func seal(_ content: [UInt8]) -> (WireMessage, SessionEvent) {
        precondition(!ended, "no message after the end of the report")
        sent += 1
        let sealed = outgoing.seal(content, kind: .reportMessage, sequence: sent)
        return (
            .reportMessage(sequence: sent, sealed: sealed),
            .messageSent(sequence: sent, content: content, sealed: sealed)
        )
    }

    /// The end of the report, numbered one past the last message, with the name and content type of the file the
    /// report came from (sealed, so they never travel in the clear), or an empty plaintext without them.
    public mutating func end(file: SubmittedFile? = nil) -> WireMessage {
        precondition(!ended, "the report ends once")
        ended = true
        return .endOfReport(
            sequence: sent + 1,
            sealed: outgoing.seal(file?.plaintext ?? [], kind: .endOfReport, sequence: sent + 1))
    }

    /// One message from Blackboard: the next acknowledgement, or the receipt once every message is acknowledged.
    public mutating func receive(_ message: WireMessage) throws(StudentHandshake.Failure) -> Incoming {
        switch message {
        case .messageAcknowledged(let sequence, let sealed):
            guard incoming.open(sealed, kind: .messageAcknowledged, sequence: sequence) != nil else {
                throw .invalidResponse("the acknowledgement for #\(sequence) is not authenticated by Blackboard")
            }
            guard sequence == acknowledged + 1, sequence <= sent else {
                throw .invalidResponse("acknowledgement for #\(sequence) while #\(acknowledged + 1) was due")
            }
            acknowledged = sequence
            return .acknowledged(sequence)
        case .receipt(let sequence, let sealed):
            guard let plaintext = incoming.open(sealed, kind: .receipt, sequence: sequence) else {
                throw .invalidResponse("the receipt is not authenticated by Blackboard")
            }
            guard ended, acknowledged == sent, sequence == sent + 1 else {
                throw .invalidResponse(
                    "a receipt numbered \(sequence) came with \(acknowledged) of \(sent) messages acknowledged")
            }
            return .receipt(plaintext)
        case .error(let error):
            throw .refused(error)
        default:
            throw .invalidResponse(
                "Blackboard sent \(message.kind.phrase) instead of an acknowledgement or the receipt")
        }
    }
}
