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

        public init(blackboard: ServerAddress = .defaultBlackboard, window: Int = 8, timeout: TimeAmount = .seconds(30))
        {
            self.blackboard = blackboard
            self.window = window
            self.timeout = timeout
        }
    }

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
        do {
            return try await FramedClient.withConnection(
                to: configuration.blackboard,
                timeout: configuration.timeout
            ) { frames in
                let authenticator = try await handshake(on: frames, credentials: credentials)
                return try await send(messages, on: frames, authenticator: authenticator)
            }
        } catch {
            throw StudentError.fromConnection(error, server: "Blackboard at \(configuration.blackboard)")
        }
    }

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
            throw StudentError.refusedByBlackboard(error)
        default:
            throw StudentError.invalidResponse("Blackboard answered the request with \(answer.kind)")
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
            throw StudentError.invalidResponse("Blackboard answered the key confirmation with \(other.kind)")
        }
        reporter?(.confirmation, "Session secure!")
        return authenticator
    }

    /// Step 6 and the receipt. Up to ``Configuration/window`` messages travel before the first acknowledgement
    /// is awaited; acknowledgements must come back in order.
    public func send(_ messages: some Sequence<[UInt8]>, on frames: FrameChannel, authenticator: SessionAuthenticator)
        async throws -> ReportReceipt
    {
        var sequence: UInt64 = 0
        var acknowledged: UInt64 = 0
        var digest = SHA256()
        var totalBytes: UInt64 = 0

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
                throw StudentError.invalidResponse("Blackboard sent \(other.kind) instead of an acknowledgement")
            }
        }

        for content in messages {
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
            throw StudentError.invalidResponse("Blackboard sent \(other.kind) instead of a receipt")
        }
    }
}
