import CampusPKI
import Crypto
import Foundation
import Logging

/// Seed step 6 on Blackboard's side: `content | HMAC` messages until the student ends the report.
///
/// Each message's MAC covers its sequence number, so a replayed, reordered, dropped or cross-session message
/// fails. A verified message is shown, stored durably, and only then acknowledged. The first failure ends the
/// session: the original printed "(Invalid message!)" and went on, which let an attacker probe at leisure.
struct ReportReceiver {
    let store: any ReportStore
    let maximumMessageSize: Int
    let reporter: StepReporter

    func run(
        _ session: BlackboardHandshake.Established,
        storedAs sessionNumber: Int64,
        on frames: FrameChannel,
        logger: Logger
    ) async throws -> ReportReceipt {
        let authenticator = session.authenticator
        var expected: UInt64 = 1
        var totalBytes: UInt64 = 0
        var digest = SHA256()
        while true {
            let (message, _) = try await frames.receive()
            switch message {
            case .reportMessage(let sequence, let content, let mac):
                guard content.count <= maximumMessageSize else {
                    throw CampusError(
                        .messageTooLarge,
                        "message \(sequence) has \(content.count) bytes; the maximum is \(maximumMessageSize)"
                    )
                }
                guard authenticator.isValidMessageMAC(mac, sequence: sequence, content: content) else {
                    throw CampusError(
                        .messageAuthenticationFailed,
                        "the HMAC of message \(sequence) does not verify; the message was altered or not sent by "
                            + "this session's student"
                    )
                }
                if let error = Self.sequenceError(sequence, expected: expected, what: "message \(sequence)") {
                    throw error
                }
                reporter(
                    .messages,
                    "receive from \(session.studentID) #\(sequence): \(MessageDisplay.text(content)) (Valid message!)"
                )
                try await Self.storing("message \(sequence)") {
                    try await store.appendMessage(
                        StoredMessage(sequence: sequence, content: content, mac: mac, receivedAt: Date()),
                        toSession: sessionNumber
                    )
                }
                digest.update(data: content)
                totalBytes += UInt64(content.count)
                try await frames.send(.messageAcknowledged(sequence: sequence))
                expected += 1

            case .endOfReport(let sequence, let mac):
                guard authenticator.isValidEndMAC(mac, sequence: sequence) else {
                    throw CampusError(.messageAuthenticationFailed, "the end-of-report MAC does not verify")
                }
                if let error = Self.sequenceError(sequence, expected: expected, what: "the end of the report") {
                    throw error
                }
                var summary = ReportSummary(
                    sessionID: session.sessionID,
                    studentID: session.studentID,
                    certificateSerial: session.certificateSerial,
                    messageCount: expected - 1,
                    totalBytes: totalBytes,
                    digest: Array(digest.finalize()),
                    completedAt: Date()
                )
                summary.id = try await Self.storing("the report") {
                    try await store.completeReport(ofSession: sessionNumber, summary: summary)
                }
                let receipt = ReportReceipt(
                    reportID: UInt64(summary.id),
                    messageCount: summary.messageCount,
                    totalBytes: summary.totalBytes,
                    digest: summary.digest
                )
                try await frames.send(.receipt(receipt))
                logger.info(
                    "report complete",
                    metadata: [
                        "report": "\(summary.id)", "messages": "\(summary.messageCount)", "bytes": "\(totalBytes)",
                    ]
                )
                return receipt

            default:
                throw CampusError(.unexpectedMessage, "expected a report message or its end, got \(message.kind)")
            }
        }
    }

    /// A number below the expected one has been used already (a replay); one above skips messages.
    static func sequenceError(_ sequence: UInt64, expected: UInt64, what: String) -> CampusError? {
        if sequence < expected {
            return CampusError(
                .replayedMessage, "\(what) carries number \(sequence), already used; expected \(expected)")
        }
        if sequence > expected {
            return CampusError(.outOfOrderMessage, "\(what) carries number \(sequence) while \(expected) was expected")
        }
        return nil
    }

    /// Runs a store write; a failure reaches the student as `storage-failed`, and nothing is acknowledged.
    static func storing<T>(_ what: String, _ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch {
            throw CampusError(.storageFailed, "\(what) could not be stored durably; it is not acknowledged")
        }
    }
}
