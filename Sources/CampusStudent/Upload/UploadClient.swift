import CampusPKI
import Crypto
import Foundation
import NIOCore
import X509
import _CryptoExtras

/// Seed steps 3–6 on the Student's side: the session with Blackboard and the report upload.
///
/// The protocol itself is ``StudentHandshake`` and ``StudentRecordLayer`` in CampusPKI; this type moves their frames
/// over a connection, feeds the messages, and checks and saves the signed receipt.
public struct UploadClient: Sendable {
    public struct Configuration: Sendable {
        /// Blackboard's address.
        public var blackboard: ServerAddress
        /// The CUHK root Blackboard's certificate must chain to (pinned at enrollment).
        public var root: Certificate
        /// The DNS name Blackboard's certificate must carry.
        public var blackboardName: String
        /// The assignment; empty for Blackboard's only open one.
        public var assignment: String
        /// Where receipts are saved (`receipts` in the Student's directory); `nil` saves none.
        public var receiptDirectory: String?
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
        /// The name and content type of the file the report comes from, sent sealed with the end of the report.
        public var file: SubmittedFile?

        public init(
            blackboard: ServerAddress = .defaultBlackboard,
            root: Certificate,
            blackboardName: String = UploadClient.defaultBlackboardName,
            assignment: String = "",
            receiptDirectory: String? = nil,
            window: Int = ReportWindow.size,
            timeout: TimeAmount = .seconds(UploadClient.defaultTimeoutSeconds),
            maximumMessageSize: Int = 1024 * 1024,
            allowsEmptyReport: Bool = false,
            keepAliveInterval: Duration = .seconds(KeepAlive.intervalSeconds),
            announcesTyping: Bool = false,
            file: SubmittedFile? = nil
        ) {
            self.file = file
            self.blackboard = blackboard
            self.root = root
            self.blackboardName = blackboardName
            self.assignment = assignment
            self.receiptDirectory = receiptDirectory
            self.announcesTyping = announcesTyping
            self.window = window
            self.timeout = timeout
            self.maximumMessageSize = maximumMessageSize
            self.allowsEmptyReport = allowsEmptyReport
            self.keepAliveInterval = keepAliveInterval
        }
    }

    /// Seconds Blackboard may stay silent before the Student gives up.
    public static let defaultTimeoutSeconds: Int64 = 30
    /// The name Blackboard's certificate carries unless `--blackboard-name` says otherwise.
    public static let defaultBlackboardName = "blackboard"

    /// What the upload achieved: Blackboard's signed receipt, verified, and where it was saved.
    public struct Result: Sendable {
        public var receipt: VerifiedReceipt
        /// The receipt as Blackboard signed it (CMS, DER).
        public var signedReceipt: [UInt8]
        /// The saved file, when a receipt directory was configured.
        public var path: String?
    }

    public var configuration: Configuration
    /// Shows and logs what happens; silent unless given a reporter.
    public var observer: SessionObserver

    public init(configuration: Configuration, observer: SessionObserver = SessionObserver(side: .student)) {
        self.configuration = configuration
        self.observer = observer
    }

    /// Runs the handshake and uploads `messages` as one report.
    ///
    /// - Throws: ``StudentError``.
    public func upload(_ messages: some Sequence<[UInt8]>, as credentials: StudentCredentials) async throws -> Result {
        var feed = SequenceFeed(messages)
        return try await upload(from: &feed, as: credentials)
    }

    /// Runs the handshake and uploads the messages `feed` gives as one report, keeping the session alive while the
    /// feed is idle.
    ///
    /// - Throws: ``StudentError``.
    public func upload(from feed: inout some MessageFeed, as credentials: StudentCredentials) async throws -> Result {
        do {
            return try await attempt(from: &feed, as: credentials)
        } catch let failure as RetryPolicy.Attempt {
            throw failure.error
        }
    }

    /// Uploads one report, in new sessions through the same address while the failure is transient and
    /// `policy` allows: a retry is a new session that sends the whole report again, from a new feed.
    ///
    /// A session is tried again only while the end of the report has not been sent: until then Blackboard cannot
    /// have recorded the report (what it acknowledged stays stored as an incomplete attempt). After it, Blackboard may
    /// have recorded the report without its receipt arriving, and a retry would record it twice.
    ///
    /// - Parameters:
    ///   - makeFeed: The report's messages from the first, for each attempt.
    ///   - policy: How often and after how long.
    ///   - announce: Told of each retry before its wait.
    /// - Throws: ``StudentError``: the last attempt's failure.
    public func upload(
        feeds makeFeed: () throws -> any MessageFeed, as credentials: StudentCredentials, retrying policy: RetryPolicy,
        announce: (RetryPolicy.Retry) -> Void = { _ in }
    ) async throws -> Result {
        try await policy.run(
            { _ in
                var feed = try makeFeed()
                return try await attempt(from: &feed, as: credentials)
            }, announce: announce)
    }

    /// One session.
    ///
    /// - Throws: ``RetryPolicy/Attempt`` for a transient failure before the end of the report was sent, else
    ///   ``StudentError``.
    private func attempt(from feed: inout some MessageFeed, as credentials: StudentCredentials) async throws -> Result {
        var endSent = false
        do {
            return try await FramedClient.withConnection(
                to: configuration.blackboard,
                timeout: configuration.timeout
            ) { frames in
                do {
                    let established = try await handshake(on: frames, credentials: credentials)
                    return try await send(
                        from: &feed, on: frames, session: established, credentials: credentials, endSent: &endSent)
                } catch let error as CampusError where error.code == .connectionClosed {
                    // Blackboard may have refused and closed while this side was writing: its error frame is
                    // then among the frames not read yet, and says why.
                    guard let refusal = await frames.errorBeforeClose() else { throw error }
                    throw StudentError.refusal(refusal, by: server)
                }
            }
        } catch {
            let failure = StudentError.fromConnection(error, server: server)
            guard let transient = TransientFailure.of(error) else { throw failure }
            guard !endSent else {
                throw StudentError.network(
                    "\(transient.sentence(server: server)) after the whole report was sent, before its receipt "
                        + "arrived: Blackboard may have recorded the report, so it is not sent again by itself")
            }
            throw RetryPolicy.Attempt(error: failure, failure: transient)
        }
    }

    private var server: StudentError.Server { .blackboard(configuration.blackboard) }

    /// Steps 3–5 on an open connection.
    ///
    /// - Returns: The session, once Blackboard has proven who it is and confirmed the keys.
    /// - Throws: ``StudentError`` for a refusal or a failed check; ``CampusError`` for connection failures.
    public func handshake(on frames: FrameChannel, credentials: StudentCredentials) async throws
        -> StudentHandshake.Established
    {
        var machine = try StudentHandshake(
            studentID: credentials.studentID,
            certificate: credentials.certificate,
            decryptionKey: credentials.decryptionKey,
            assignment: configuration.assignment,
            verifier: BlackboardCertificateVerifier(
                root: configuration.root, expectedName: configuration.blackboardName)
        )
        var output = machine.start()
        var first = true
        while true {
            try await frames.writer.send(contentsOf: output.messages)
            observer(output.events)
            if let established = output.established { return established }
            let payload = try await frames.receivePayload()
            do {
                output = try await machine.receive(payload)
            } catch {
                throw studentError(error, answeringFirstMessage: first)
            }
            first = false
        }
    }

    /// Step 6 and the receipt for messages that are all there already.
    public func send(
        _ messages: some Sequence<[UInt8]>, on frames: FrameChannel, session: StudentHandshake.Established,
        credentials: StudentCredentials
    ) async throws -> Result {
        var feed = SequenceFeed(messages)
        return try await send(from: &feed, on: frames, session: session, credentials: credentials)
    }

    /// Step 6 and the receipt. Up to ``Configuration/window`` messages travel before the first acknowledgement
    /// is awaited; acknowledgements must come back in order. While the feed has nothing to send for
    /// ``Configuration/keepAliveInterval``, a keep-alive frame keeps Blackboard from ending the session.
    public func send(
        from feed: inout some MessageFeed, on frames: FrameChannel, session: StudentHandshake.Established,
        credentials: StudentCredentials
    ) async throws -> Result {
        var endSent = false
        return try await send(from: &feed, on: frames, session: session, credentials: credentials, endSent: &endSent)
    }

    /// Step 6; `endSent` is set as the end of the report is handed to the connection.
    private func send(
        from feed: inout some MessageFeed, on frames: FrameChannel, session: StudentHandshake.Established,
        credentials: StudentCredentials, endSent: inout Bool
    ) async throws -> Result {
        var records = session.records
        var digest = SHA256()
        var totalBytes: UInt64 = 0
        if configuration.announcesTyping {
            observer.reporter?(.messages, "Type your report; each line is one message; end with Ctrl-D")
        }

        func nextFromBlackboard() async throws -> StudentRecordLayer.Incoming {
            let incoming: StudentRecordLayer.Incoming
            do {
                incoming = try records.receive(try await frames.receive().message)
            } catch let error as StudentHandshake.Failure {
                throw studentError(error, answeringFirstMessage: false)
            }
            if case .acknowledged(let number) = incoming { observer([.messageAcknowledged(sequence: number)]) }
            return incoming
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
                    number: Int(records.sent + 1), size: content.count, limit: configuration.maximumMessageSize)
            }
            digest.update(data: content)
            totalBytes += UInt64(content.count)
            let (message, event) = records.seal(content)
            try await frames.send(message)
            observer([event])
            while records.sent - records.acknowledged >= UInt64(max(configuration.window, 1)) {
                _ = try await nextFromBlackboard()
            }
        }
        guard records.sent > 0 || configuration.allowsEmptyReport else {
            throw StudentError.local(
                "the report is empty, so nothing was uploaded (Blackboard did not record a report); "
                    + "give --message, --file or lines on standard input, or --allow-empty to send an empty report")
        }
        // The end goes out at once, behind the last messages: Blackboard can store them and the report in one
        // commit. Every acknowledgement must still arrive, and then the receipt.
        endSent = true
        try await frames.send(records.end(file: configuration.file))
        while true {
            guard case .receipt(let signed) = try await nextFromBlackboard() else { continue }
            let verified = try await checkReceipt(
                signed, session: session, credentials: credentials, sent: records.sent, totalBytes: totalBytes,
                digest: Array(digest.finalize()))
            observer([.receiptVerified(document: verified.document, size: signed.count)])
            return Result(receipt: verified, signedReceipt: signed, path: try save(signed, verified.document))
        }
    }

    /// The receipt must verify against the pinned root, be signed by the certificate of this handshake, and
    /// describe exactly what was sent.
    private func checkReceipt(
        _ signed: [UInt8], session: StudentHandshake.Established, credentials: StudentCredentials, sent: UInt64,
        totalBytes: UInt64, digest: [UInt8]
    ) async throws -> VerifiedReceipt {
        let verified: VerifiedReceipt
        do {
            verified = try await SignedReceipt.verify(
                signed, root: configuration.root, blackboardName: configuration.blackboardName)
        } catch {
            throw StudentError.invalidResponse("Blackboard's receipt does not verify: \(error)")
        }
        let document = verified.document
        guard verified.signer == session.blackboardCertificate else {
            throw StudentError.invalidResponse("the receipt is signed by another certificate than the session's")
        }
        guard document.studentID == credentials.studentID.rawValue,
            document.certificateSerial == credentials.certificate.serialNumber.hex,
            document.assignment == session.assignment, document.messageCount == sent,
            document.totalBytes == totalBytes, document.contentSHA256 == digest
        else {
            throw StudentError.invalidResponse(
                "the receipt (\(document.studentID), \(document.assignment), \(document.messageCount) messages, "
                    + "\(document.totalBytes) bytes, \(document.contentSHA256.hexString)) does not match what was sent")
        }
        return verified
    }

    /// Saves the receipt as `<assignment>-<report>.p7s`, never over another file.
    private func save(_ signed: [UInt8], _ document: ReceiptDocument) throws -> String? {
        guard let directory = configuration.receiptDirectory else { return nil }
        let base = "\(document.assignment)-\(document.report)"
        do {
            try SecureFile.createDirectory(directory)
            for attempt in 1...100 {
                let name = attempt == 1 ? "\(base).p7s" : "\(base)-\(attempt).p7s"
                let path = SecureFile.join(directory, name)
                guard !SecureFile.exists(path) else { continue }
                try SecureFile.write(signed, to: path, mode: SecureFile.publicMode, replacing: false)
                return path
            }
        } catch {
            throw StudentError.local("the receipt could not be saved in \(directory): \(error)")
        }
        throw StudentError.local("the receipt could not be saved in \(directory): too many files named \(base)")
    }

    private func studentError(_ failure: StudentHandshake.Failure, answeringFirstMessage: Bool) -> StudentError {
        switch failure {
        case .refused(let error):
            return StudentError.refusal(error, by: server, answeringFirstMessage: answeringFirstMessage)
        case .notAuthenticated(let error):
            return .blackboardNotAuthenticated(error)
        case .invalidResponse(let reason):
            return answeringFirstMessage
                ? .invalidResponse(
                    "the server at \(configuration.blackboard) does not answer as Blackboard (\(reason)); "
                        + "check --blackboard")
                : .invalidResponse(reason)
        }
    }
}
