import CampusPKI
import Crypto
import Foundation
import NIOCore
import X509
import _CryptoExtras

/// Seed steps 3–6 on the Student's side: the session with Blackboard and the report upload.
public struct UploadClient: Sendable {
    public struct Configuration: Sendable {
        /// Blackboard's address.
        public var blackboard: ServerAddress
        /// How many messages may be on their way before the Student waits for an acknowledgement.
        public var window: Int
        /// How long Blackboard may stay silent.
        public var timeout: TimeAmount
        /// The largest message content; a longer message is refused here, before it is sent.
        public var maximumMessageSize: Int
        /// Whether a report with no message may be sent.
        public var allowsEmptyReport: Bool
        /// How long the Student waits for the next message before it sends a keep-alive.
        public var keepAliveInterval: Duration
        /// Whether a person types the report: after the handshake the Student says how.
        public var announcesTyping: Bool

        public init(
            blackboard: ServerAddress = .defaultBlackboard,
            window: Int = 8,
            timeout: TimeAmount = .seconds(UploadClient.defaultTimeoutSeconds),
            maximumMessageSize: Int = 1024 * 1024,
            allowsEmptyReport: Bool = false,
            keepAliveInterval: Duration = .seconds(KeepAlive.intervalSeconds),
            announcesTyping: Bool = false
        ) {
            self.announcesTyping = announcesTyping
            self.blackboard = blackboard
            self.window = window
            self.timeout = timeout
            self.maximumMessageSize = maximumMessageSize
            self.allowsEmptyReport = allowsEmptyReport
            self.keepAliveInterval = keepAliveInterval
        }
    }

    /// Seconds Blackboard may stay silent before the Student gives up.
    public static let defaultTimeoutSeconds: Int64 = 30

    /// What the upload achieved.
    public struct Result: Sendable {
        public var receipt: ReportReceipt
        public var messageCount: Int
    }

    public var configuration: Configuration
    /// Receives what the Student shows; `nil` keeps it silent, and then no line is even formatted.
    public var reporter: StepReporter?

    public init(configuration: Configuration, reporter: StepReporter? = nil) {
        self.configuration = configuration
        self.reporter = reporter
    }

    /// Runs the handshake and uploads `messages` as one report.
    ///
    /// - Parameters:
    ///   - messages: The contents, in order; each must fit Blackboard's maximum message size.
    ///   - credentials: The student's key and cert 2.
    /// - Returns: Blackboard's receipt, checked against what was sent.
    /// - Throws: ``StudentError``.
    public func upload(_ messages: some Sequence<[UInt8]>, as credentials: StudentCredentials) async throws
        -> ReportReceipt
    {
        var feed = SequenceFeed(messages)
        return try await upload(from: &feed, as: credentials)
    }

    /// Runs the handshake and uploads the messages `feed` gives as one report, keeping the session alive while the
    /// feed is idle.
    ///
    /// - Throws: ``StudentError``.
    public func upload(from feed: inout some MessageFeed, as credentials: StudentCredentials) async throws
        -> ReportReceipt
    {
        do {
            return try await FramedClient.withConnection(
                to: configuration.blackboard,
                timeout: configuration.timeout
            ) { frames in
                let authenticator = try await handshake(on: frames, credentials: credentials)
                return try await send(from: &feed, on: frames, authenticator: authenticator)
            }
        } catch {
            throw StudentError.fromConnection(error, server: server)
        }
    }

    private var server: StudentError.Server { .blackboard(configuration.blackboard) }

    /// Steps 3–5 on an open connection.
    ///
    /// - Returns: The session's authenticator, once Blackboard has confirmed the session.
    /// - Throws: ``StudentError`` for a refusal or a failed check; ``CampusError`` for connection failures.
    public func handshake(on frames: FrameChannel, credentials: StudentCredentials) async throws -> SessionAuthenticator
    {
        var transcript = HandshakeTranscript()
        let requestText = UploadRequestText.make(for: credentials.studentID)
        transcript.append(
            try await frames.send(.uploadRequest(requestText: requestText, certificatePEM: credentials.certificatePEM))
        )
        reporter?(.verification, "Send request to Blackboard: \"\(requestText)\" | Cert 2")

        let (answer, answerPayload) = try await frames.receive()
        let sessionID: [UInt8]
        let encryptedKey: [UInt8]
        switch answer {
        case .sessionKey(let id, let key):
            (sessionID, encryptedKey) = (id, key)
        case .error(let error):
            throw StudentError.refusal(error, by: server, answeringFirstMessage: true)
        default:
            throw StudentError.invalidResponse("Blackboard answered the request with \(answer.kind.phrase)")
        }
        transcript.append(answerPayload)
        let decrypted: Data
        do {
            decrypted = try credentials.decryptionKey.decrypt(encryptedKey, padding: .PKCS1_OAEP_SHA256)
        } catch {
            throw StudentError.invalidResponse("the session key cannot be decrypted with this student's key")
        }
        guard decrypted.count == SessionKeys.sessionKeyLength else {
            throw StudentError.invalidResponse("the session key has \(decrypted.count) bytes, not 32")
        }
        reporter?(.sessionKey, "Encrypted session key received and decrypted with the private key")
        let authenticator = SessionAuthenticator(
            keys: SessionKeys(sessionKey: SymmetricKey(data: decrypted), sessionID: sessionID)
        )

        // Step 5: prove possession of the key with a MAC; the key itself never leaves this process.
        transcript.append(
            try await frames.send(
                .keyConfirmation(mac: authenticator.studentConfirmation(transcriptDigest: transcript.digest)))
        )
        switch try await frames.receive().message {
        case .sessionSecure(let mac):
            guard authenticator.isValidBlackboardConfirmation(mac, transcriptDigest: transcript.digest) else {
                throw StudentError.invalidResponse("Blackboard's confirmation does not verify")
            }
        case .error(let error):
            throw StudentError.refusedByBlackboard(error)
        case let other:
            throw StudentError.invalidResponse("Blackboard answered the key confirmation with \(other.kind.phrase)")
        }
        reporter?(.confirmation, "Session secure!")
        return authenticator
    }

    /// Step 6 and the receipt for messages that are all there already.
    public func send(_ messages: some Sequence<[UInt8]>, on frames: FrameChannel, authenticator: SessionAuthenticator)
        async throws -> ReportReceipt
    {
        var feed = SequenceFeed(messages)
        return try await send(from: &feed, on: frames, authenticator: authenticator)
    }

    /// Step 6 and the receipt. Up to ``Configuration/window`` messages travel before the first acknowledgement
    /// is awaited; acknowledgements must come back in order. While the feed has nothing to send for
    /// ``Configuration/keepAliveInterval``, a keep-alive frame keeps Blackboard from ending the session.
    public func send(from feed: inout some MessageFeed, on frames: FrameChannel, authenticator: SessionAuthenticator)
        async throws -> ReportReceipt
    {
        var sequence: UInt64 = 0
        var acknowledged: UInt64 = 0
        var digest = SHA256()
        var totalBytes: UInt64 = 0
        if configuration.announcesTyping {
            reporter?(.messages, "Type your report; each line is one message; end with Ctrl-D")
        }

        func awaitAcknowledgement() async throws {
            switch try await frames.receive().message {
            case .messageAcknowledged(let number) where number == acknowledged + 1:
                acknowledged = number
                reporter?(.messages, "Blackboard stored message #\(number)")
            case .messageAcknowledged(let number):
                throw StudentError.invalidResponse("acknowledgement for #\(number) while #\(acknowledged + 1) was due")
            case .error(let error):
                throw StudentError.refusedByBlackboard(error)
            case let other:
                throw StudentError.invalidResponse("Blackboard sent \(other.kind.phrase) instead of an acknowledgement")
            }
        }

        reading: while true {
            let content: [UInt8]
            switch try await feed.next(waitingAtMost: configuration.keepAliveInterval) {
            case .idle:
                try await frames.send(.keepAlive)
                continue reading
            case .end:
                break reading
            case .message(let next):
                content = next
            }
            guard content.count <= configuration.maximumMessageSize else {
                throw ReportSource.tooLarge(
                    number: Int(sequence + 1), size: content.count, limit: configuration.maximumMessageSize)
            }
            sequence += 1
            digest.update(data: content)
            totalBytes += UInt64(content.count)
            let mac = authenticator.messageMAC(sequence: sequence, content: content)
            try await frames.send(.reportMessage(sequence: sequence, content: content, mac: mac))
            reporter?(.messages, "Send #\(sequence): \(MessageDisplay.text(content))")
            while sequence - acknowledged >= UInt64(max(configuration.window, 1)) {
                try await awaitAcknowledgement()
            }
        }
        guard sequence > 0 || configuration.allowsEmptyReport else {
            throw StudentError.local(
                "the report is empty, so nothing was uploaded (Blackboard did not record a report); "
                    + "give --message, --file or lines on standard input, or --allow-empty to send an empty report")
        }
        // The end goes out at once, behind the last messages: Blackboard can store them and the report in one
        // commit. Every acknowledgement must still arrive, and then the receipt.
        try await frames.send(.endOfReport(sequence: sequence + 1, mac: authenticator.endMAC(sequence: sequence + 1)))
        while acknowledged < sequence { try await awaitAcknowledgement() }
        switch try await frames.receive().message {
        case .receipt(let receipt):
            let expectedDigest = Array(digest.finalize())
            guard receipt.messageCount == sequence, receipt.totalBytes == totalBytes, receipt.digest == expectedDigest
            else {
                throw StudentError.invalidResponse(
                    "the receipt (\(receipt.messageCount) messages, \(receipt.totalBytes) bytes, "
                        + "\(receipt.digest.hexString)) does not match what was sent"
                )
            }
            return receipt
        case .error(let error):
            throw StudentError.refusedByBlackboard(error)
        case let other:
            throw StudentError.invalidResponse("Blackboard sent \(other.kind.phrase) instead of a receipt")
        }
    }
}
