import NIOCore

/// A message of the CampusPKI protocol, as carried in the payload of one frame.
///
/// Every payload starts with the protocol version and a type byte; docs/PROTOCOL.md gives each body byte by
/// byte. Variable-length fields are a 4-byte big-endian length followed by that many bytes.
public enum WireMessage: Sendable, Hashable {
    /// Student → CUHK (steps 1–2): opens the enrollment channel with the Student's X25519 key share and a nonce.
    case enrollmentHello(EnrollmentHello)
    /// CUHK → Student: CUHK's own certificate, the root it chains to, and CUHK's key share.
    case enrollmentOffer(EnrollmentOffer)
    /// CUHK → Student: CUHK's signature over the hello and the offer.
    case enrollmentSignature(signature: [UInt8])
    /// Student → CUHK (step 1), sealed: the CSR and the proof of the enrollment code.
    case enrollmentRequest(sequence: UInt64, sealed: [UInt8])
    /// Student → CUHK, sealed: the current certificate, the new CSR and the proof by the current key.
    case renewalRequest(sequence: UInt64, sealed: [UInt8])
    /// CUHK → Student (step 2), sealed: cert 2.
    case enrollmentCertificate(sequence: UInt64, sealed: [UInt8])
    /// Student → Blackboard (step 3): the seed's `Request | Cert 2`, with the student's key share and nonce.
    case uploadRequest(UploadRequest)
    /// Blackboard → Student (step 4): Blackboard's certificate and key share, and the secret encrypted to cert 2.
    case sessionKey(SessionKeyOffer)
    /// Blackboard → Student (step 4): Blackboard's signature over the transcript so far.
    case blackboardSignature(signature: [UInt8])
    /// Student → Blackboard (step 5): proof that the student derived the session keys.
    case keyConfirmation(mac: [UInt8])
    /// Blackboard → Student (step 5): the session is secure, with Blackboard's own proof.
    case sessionSecure(mac: [UInt8])
    /// Student → Blackboard (step 6): one message of the report, encrypted; the AEAD tag is the seed's HMAC.
    case reportMessage(sequence: UInt64, sealed: [UInt8])
    /// Blackboard → Student (step 6): the message with this sequence number is stored durably (sealed, empty).
    case messageAcknowledged(sequence: UInt64, sealed: [UInt8])
    /// Student → Blackboard: the report is complete after `sequence - 1` messages (sealed, empty).
    case endOfReport(sequence: UInt64, sealed: [UInt8])
    /// Blackboard → Student: the report is recorded; the sealed plaintext is the signed receipt (CMS, DER).
    case receipt(sequence: UInt64, sealed: [UInt8])
    /// Student → Blackboard (step 6): nothing to send yet; the session is still wanted. Empty body.
    case keepAlive
    /// Student → Blackboard, before enrolling: which assignments are open? Empty body; answered without any
    /// certificate, then the connection closes.
    case assignmentsQuery
    /// Blackboard → Student: the open assignments, oldest first (at most ``maximumListedAssignments``).
    case assignmentList([ListedAssignment])
    /// Server → client: a refusal with a stable code; the server closes the connection after it.
    case error(CampusError)

    /// The protocol version this implementation speaks.
    public static let protocolVersion: UInt8 = 2

    /// Type bytes, as in docs/PROTOCOL.md.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case enrollmentHello = 0x07
        case enrollmentOffer = 0x08
        case enrollmentSignature = 0x09
        case enrollmentRequest = 0x0A
        case renewalRequest = 0x0B
        case enrollmentCertificate = 0x0C
        case uploadRequest = 0x10
        case sessionKey = 0x11
        case keyConfirmation = 0x12
        case sessionSecure = 0x13
        case reportMessage = 0x14
        case messageAcknowledged = 0x15
        case endOfReport = 0x16
        case receipt = 0x17
        case keepAlive = 0x18
        case blackboardSignature = 0x19
        case assignmentsQuery = 0x1A
        case assignmentList = 0x1B
        case error = 0x7F

        /// The message's name with its article, for reasons and terminal lines: "an enrollment request".
        public var phrase: String {
            switch self {
            case .enrollmentHello: "an enrollment hello"
            case .enrollmentOffer: "CUHK's enrollment offer"
            case .enrollmentSignature: "CUHK's signature"
            case .enrollmentRequest: "an enrollment request"
            case .renewalRequest: "a renewal request"
            case .enrollmentCertificate: "an enrollment certificate"
            case .uploadRequest: "an upload request"
            case .sessionKey: "a session key"
            case .keyConfirmation: "a key confirmation"
            case .sessionSecure: "a session-secure message"
            case .reportMessage: "a report message"
            case .messageAcknowledged: "a message acknowledgement"
            case .endOfReport: "an end of report"
            case .receipt: "a receipt"
            case .keepAlive: "a keep-alive"
            case .blackboardSignature: "Blackboard's signature"
            case .assignmentsQuery: "a question for the open assignments"
            case .assignmentList: "a list of open assignments"
            case .error: "an error"
            }
        }
    }

    /// Length of session IDs, in bytes.
    public static let sessionIDLength = 16
    /// Type bytes of the enrollment before its secure channel (CUHK's messages of version 2 before the enrollment
    /// channel): withdrawn, never reused, refused with a reason that says so.
    public static let withdrawnKinds: ClosedRange<UInt8> = 0x01...0x06
    /// Length of every MAC and digest, in bytes (SHA-256).
    public static let macLength = 32
    /// Length of an X25519 key share and of a handshake nonce, in bytes.
    public static let keyShareLength = 32
    /// Length of the student's handshake nonce, in bytes.
    public static let nonceLength = 32
    /// Length of an AEAD tag (ChaCha20-Poly1305), in bytes.
    public static let tagLength = 16
    /// The most assignments an `assignmentList` holds.
    public static let maximumListedAssignments = 100

    /// The message's type byte.
    public var kind: Kind {
        switch self {
        case .enrollmentHello: .enrollmentHello
        case .enrollmentOffer: .enrollmentOffer
        case .enrollmentSignature: .enrollmentSignature
        case .enrollmentRequest: .enrollmentRequest
        case .renewalRequest: .renewalRequest
        case .enrollmentCertificate: .enrollmentCertificate
        case .uploadRequest: .uploadRequest
        case .sessionKey: .sessionKey
        case .keyConfirmation: .keyConfirmation
        case .sessionSecure: .sessionSecure
        case .reportMessage: .reportMessage
        case .messageAcknowledged: .messageAcknowledged
        case .endOfReport: .endOfReport
        case .receipt: .receipt
        case .keepAlive: .keepAlive
        case .blackboardSignature: .blackboardSignature
        case .assignmentsQuery: .assignmentsQuery
        case .assignmentList: .assignmentList
        case .error: .error
        }
    }

    /// Writes the payload (version, type, body) into `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.protocolVersion)
        buffer.writeInteger(kind.rawValue)
        switch self {
        case .enrollmentHello(let hello):
            buffer.writeBytes(hello.keyShare)
            buffer.writeBytes(hello.nonce)
        case .enrollmentOffer(let offer):
            buffer.writeField(Array(offer.certificatePEM.utf8))
            buffer.writeField(Array(offer.rootPEM.utf8))
            buffer.writeBytes(offer.keyShare)
        case .enrollmentSignature(let signature):
            buffer.writeField(signature)
        case .uploadRequest(let request):
            buffer.writeField(Array(request.requestText.utf8))
            buffer.writeField(Array(request.certificatePEM.utf8))
            buffer.writeField(Array(request.assignment.utf8))
            buffer.writeBytes(request.keyShare)
            buffer.writeBytes(request.nonce)
        case .sessionKey(let offer):
            buffer.writeBytes(offer.sessionID)
            buffer.writeField(Array(offer.certificatePEM.utf8))
            buffer.writeBytes(offer.keyShare)
            buffer.writeField(offer.encryptedSecret)
            buffer.writeField(Array(offer.assignment.utf8))
            buffer.writeField(Array(offer.deadline.utf8))
        case .blackboardSignature(let signature):
            buffer.writeField(signature)
        case .keyConfirmation(let mac), .sessionSecure(let mac):
            buffer.writeBytes(mac)
        case .reportMessage(let sequence, let sealed), .messageAcknowledged(let sequence, let sealed),
            .endOfReport(let sequence, let sealed), .receipt(let sequence, let sealed),
            .enrollmentRequest(let sequence, let sealed), .renewalRequest(let sequence, let sealed),
            .enrollmentCertificate(let sequence, let sealed):
            buffer.writeInteger(sequence)
            buffer.writeField(sealed)
        case .keepAlive, .assignmentsQuery:
            break
        case .assignmentList(let assignments):
            buffer.writeInteger(UInt32(assignments.count))
            for assignment in assignments {
                buffer.writeField(Array(assignment.name.utf8))
                buffer.writeField(Array(assignment.deadline.utf8))
                buffer.writeInteger(assignment.refusesLate ? UInt8(1) : UInt8(0))
            }
        case .error(let error):
            buffer.writeInteger(error.code.rawValue)
            buffer.writeField(Array(error.reason.utf8))
        }
    }

    /// The payload as a new buffer.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer)
        return buffer
    }

    /// Decodes one payload.
    ///
    /// - Parameter payload: The bytes of one frame, without its length prefix.
    /// - Returns: The message.
    /// - Throws: ``CampusError`` with `unsupportedVersion`, `unknownMessageType` or `malformedMessage`.
    public static func decode(_ payload: ByteBuffer) throws -> WireMessage {
        var buffer = payload
        guard let version = buffer.readInteger(as: UInt8.self), let typeByte = buffer.readInteger(as: UInt8.self)
        else {
            throw CampusError(.malformedMessage, "a payload needs at least a version byte and a type byte")
        }
        guard version == protocolVersion else {
            throw CampusError(
                .unsupportedVersion,
                "protocol version \(version) is not supported; this peer speaks version \(protocolVersion)"
            )
        }
        guard let kind = Kind(rawValue: typeByte) else {
            if withdrawnKinds.contains(typeByte) {
                throw CampusError(
                    .unknownMessageType,
                    "message type 0x0\(String(typeByte, radix: 16)) belongs to the enrollment without a secure channel, "
                        + "which was withdrawn; enrollment starts with an enrollment hello (0x07): update the student "
                        + "program")
            }
            throw CampusError(.unknownMessageType, "unknown message type 0x\(String(typeByte, radix: 16))")
        }
        let message: WireMessage
        switch kind {
        case .enrollmentHello:
            message = .enrollmentHello(
                EnrollmentHello(
                    keyShare: try buffer.readFixed(keyShareLength, named: "key share"),
                    nonce: try buffer.readFixed(nonceLength, named: "nonce")))
        case .enrollmentOffer:
            message = .enrollmentOffer(
                EnrollmentOffer(
                    certificatePEM: try buffer.readTextField(named: "certificate"),
                    rootPEM: try buffer.readTextField(named: "root"),
                    keyShare: try buffer.readFixed(keyShareLength, named: "key share")))
        case .enrollmentSignature:
            message = .enrollmentSignature(signature: try buffer.readField(named: "signature"))
        case .enrollmentRequest:
            let (sequence, sealed) = try buffer.readSealed()
            message = .enrollmentRequest(sequence: sequence, sealed: sealed)
        case .renewalRequest:
            let (sequence, sealed) = try buffer.readSealed()
            message = .renewalRequest(sequence: sequence, sealed: sealed)
        case .enrollmentCertificate:
            let (sequence, sealed) = try buffer.readSealed()
            message = .enrollmentCertificate(sequence: sequence, sealed: sealed)
        case .uploadRequest:
            message = .uploadRequest(
                UploadRequest(
                    requestText: try buffer.readTextField(named: "request"),
                    certificatePEM: try buffer.readTextField(named: "certificate"),
                    assignment: try buffer.readTextField(named: "assignment"),
                    keyShare: try buffer.readFixed(keyShareLength, named: "key share"),
                    nonce: try buffer.readFixed(nonceLength, named: "nonce")
                )
            )
        case .sessionKey:
            message = .sessionKey(
                SessionKeyOffer(
                    sessionID: try buffer.readFixed(sessionIDLength, named: "session ID"),
                    certificatePEM: try buffer.readTextField(named: "certificate"),
                    keyShare: try buffer.readFixed(keyShareLength, named: "key share"),
                    encryptedSecret: try buffer.readField(named: "encrypted secret"),
                    assignment: try buffer.readTextField(named: "assignment"),
                    deadline: try buffer.readTextField(named: "deadline")
                )
            )
        case .blackboardSignature:
            message = .blackboardSignature(signature: try buffer.readField(named: "signature"))
        case .keyConfirmation:
            message = .keyConfirmation(mac: try buffer.readFixed(macLength, named: "MAC"))
        case .sessionSecure:
            message = .sessionSecure(mac: try buffer.readFixed(macLength, named: "MAC"))
        case .reportMessage:
            let (sequence, sealed) = try buffer.readSealed()
            message = .reportMessage(sequence: sequence, sealed: sealed)
        case .messageAcknowledged:
            let (sequence, sealed) = try buffer.readSealed()
            message = .messageAcknowledged(sequence: sequence, sealed: sealed)
        case .endOfReport:
            let (sequence, sealed) = try buffer.readSealed()
            message = .endOfReport(sequence: sequence, sealed: sealed)
        case .receipt:
            let (sequence, sealed) = try buffer.readSealed()
            message = .receipt(sequence: sequence, sealed: sealed)
        case .keepAlive:
            message = .keepAlive
        case .assignmentsQuery:
            message = .assignmentsQuery
        case .assignmentList:
            guard let count = buffer.readInteger(as: UInt32.self) else {
                throw CampusError(.malformedMessage, "the list of assignments is missing its count")
            }
            guard count <= maximumListedAssignments else {
                throw CampusError(
                    .malformedMessage, "the list holds \(count) assignments; at most \(maximumListedAssignments)")
            }
            var assignments: [ListedAssignment] = []
            for _ in 0..<count {
                let name = try buffer.readTextField(named: "assignment")
                let deadline = try buffer.readTextField(named: "deadline")
                guard let late = buffer.readInteger(as: UInt8.self), late <= 1 else {
                    throw CampusError(.malformedMessage, "an assignment's late policy is missing or not 0 or 1")
                }
                assignments.append(ListedAssignment(name: name, deadline: deadline, refusesLate: late == 1))
            }
            message = .assignmentList(assignments)
        case .error:
            guard let rawCode = buffer.readInteger(as: UInt16.self) else {
                throw CampusError(.malformedMessage, "error message is missing its code")
            }
            let reason = try buffer.readTextField(named: "reason")
            // An unknown code from a newer peer is still an error; keep its number in the reason.
            let code = CampusError.Code(rawValue: rawCode) ?? .internalError
            let text = CampusError.Code(rawValue: rawCode) == nil ? "code \(rawCode): \(reason)" : reason
            message = .error(CampusError(code, text))
        }
        guard buffer.readableBytes == 0 else {
            throw CampusError(
                .malformedMessage,
                "\(Count.of(buffer.readableBytes, "unexpected byte")) after the end of \(kind.phrase)"
            )
        }
        return message
    }
}

/// The Student's first message to CUHK: a fresh X25519 key share and nonce.
public struct EnrollmentHello: Sendable, Hashable {
    /// The Student's ephemeral X25519 public key (32 bytes).
    public var keyShare: [UInt8]
    /// 32 random bytes.
    public var nonce: [UInt8]

    public init(keyShare: [UInt8], nonce: [UInt8]) {
        self.keyShare = keyShare
        self.nonce = nonce
    }
}

/// CUHK's answer to the hello: who CUHK is (its enrollment certificate, issued by the root it sends beside it) and
/// its key share.
public struct EnrollmentOffer: Sendable, Hashable {
    /// CUHK's enrollment certificate, PEM.
    public var certificatePEM: String
    /// CUHK's root certificate (`cuhk.cer`), PEM.
    public var rootPEM: String
    /// CUHK's ephemeral X25519 public key (32 bytes).
    public var keyShare: [UInt8]

    public init(certificatePEM: String, rootPEM: String, keyShare: [UInt8]) {
        self.certificatePEM = certificatePEM
        self.rootPEM = rootPEM
        self.keyShare = keyShare
    }
}

/// One open assignment in an `assignmentList`.
public struct ListedAssignment: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its deadline, `YYYY-MM-DDTHH:MM:SSZ`, or empty when it has none.
    public var deadline: String
    /// Whether a report committed after the deadline is refused (`deadline-passed`) rather than marked late.
    public var refusesLate: Bool

    public init(name: String, deadline: String, refusesLate: Bool) {
        self.name = name
        self.deadline = deadline
        self.refusesLate = refusesLate
    }
}

/// Step 3's request: the seed's text and cert 2, the assignment, and the student's fresh X25519 key share and nonce.
public struct UploadRequest: Sendable, Hashable {
    /// `SID:<id> requests to upload report !`
    public var requestText: String
    /// Cert 2, PEM.
    public var certificatePEM: String
    /// The assignment's name; empty asks for Blackboard's only open assignment.
    public var assignment: String
    /// The student's ephemeral X25519 public key (32 bytes).
    public var keyShare: [UInt8]
    /// 32 random bytes.
    public var nonce: [UInt8]

    public init(requestText: String, certificatePEM: String, assignment: String, keyShare: [UInt8], nonce: [UInt8]) {
        self.requestText = requestText
        self.certificatePEM = certificatePEM
        self.assignment = assignment
        self.keyShare = keyShare
        self.nonce = nonce
    }
}

/// Step 4's first message: who Blackboard is, its key share, and the seed's session key (the RSA-transported
/// secret), with the assignment the report goes to.
public struct SessionKeyOffer: Sendable, Hashable {
    /// 16 random bytes naming the session.
    public var sessionID: [UInt8]
    /// Blackboard's certificate, PEM.
    public var certificatePEM: String
    /// Blackboard's ephemeral X25519 public key (32 bytes).
    public var keyShare: [UInt8]
    /// 32 random bytes encrypted to cert 2 with RSA-OAEP-SHA256.
    public var encryptedSecret: [UInt8]
    /// The assignment the report goes to.
    public var assignment: String
    /// Its deadline, ISO-8601 UTC (`2026-12-01T23:59:59Z`), or empty when it has none.
    public var deadline: String

    public init(
        sessionID: [UInt8], certificatePEM: String, keyShare: [UInt8], encryptedSecret: [UInt8], assignment: String,
        deadline: String
    ) {
        self.sessionID = sessionID
        self.certificatePEM = certificatePEM
        self.keyShare = keyShare
        self.encryptedSecret = encryptedSecret
        self.assignment = assignment
        self.deadline = deadline
    }
}

extension ByteBuffer {
    mutating func writeField(_ bytes: [UInt8]) {
        writeInteger(UInt32(bytes.count))
        writeBytes(bytes)
    }

    mutating func readField(named name: String) throws -> [UInt8] {
        guard let length = readInteger(as: UInt32.self) else {
            throw CampusError(.malformedMessage, "the \(name) field is missing its length")
        }
        guard Int(length) <= readableBytes, let bytes = readBytes(length: Int(length)) else {
            throw CampusError(
                .malformedMessage,
                "the \(name) field says \(length) bytes but only \(readableBytes) remain"
            )
        }
        return bytes
    }

    mutating func readTextField(named name: String) throws -> String {
        let bytes = try readField(named: name)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CampusError(.malformedMessage, "the \(name) field is not valid UTF-8")
        }
        return text
    }

    mutating func readFixed(_ count: Int, named name: String) throws -> [UInt8] {
        guard let bytes = readBytes(length: count) else {
            throw CampusError(.malformedMessage, "the \(name) field needs \(count) bytes, \(readableBytes) remain")
        }
        return bytes
    }

    /// A sequence number and a sealed field, which holds at least the AEAD tag.
    mutating func readSealed() throws -> (UInt64, [UInt8]) {
        let sequence = try readUInt64(named: "sequence")
        let sealed = try readField(named: "sealed")
        guard sealed.count >= WireMessage.tagLength else {
            throw CampusError(
                .malformedMessage,
                "the sealed field has \(sealed.count) bytes, fewer than its \(WireMessage.tagLength)-byte tag")
        }
        return (sequence, sealed)
    }

    mutating func readUInt64(named name: String) throws -> UInt64 {
        guard let value = readInteger(as: UInt64.self) else {
            throw CampusError(.malformedMessage, "the \(name) field needs 8 bytes, \(readableBytes) remain")
        }
        return value
    }
}
