import NIOCore
import NIOEmbedded
import Testing

@testable import CampusPKI

@Suite struct WireMessageTests {
    static let samples: [WireMessage] = [
        .enrollmentHello(
            EnrollmentHello(keyShare: Array(repeating: 1, count: 32), nonce: Array(repeating: 2, count: 32))),
        .enrollmentOffer(
            EnrollmentOffer(certificatePEM: "cuhk", rootPEM: "root", keyShare: Array(repeating: 3, count: 32))),
        .enrollmentSignature(signature: Array(repeating: 4, count: 71)),
        .enrollmentRequest(sequence: 1, sealed: Array(repeating: 5, count: 40)),
        .renewalRequest(sequence: 1, sealed: Array(repeating: 6, count: 300)),
        .enrollmentCertificate(sequence: 1, sealed: Array(repeating: 7, count: 16)),
        .uploadRequest(
            UploadRequest(
                requestText: "SID:1155123456 requests to upload report !", certificatePEM: "pem", assignment: "a1",
                keyShare: Array(repeating: 6, count: 32), nonce: Array(repeating: 7, count: 32))),
        .sessionKey(
            SessionKeyOffer(
                sessionID: Array(0..<16), certificatePEM: "bb", keyShare: Array(repeating: 8, count: 32),
                encryptedSecret: Array(repeating: 0x5a, count: 256), assignment: "a1", deadline: "2026-12-01T23:59:59Z"
            )),
        .blackboardSignature(signature: Array(repeating: 9, count: 70)),
        .keyConfirmation(mac: Array(repeating: 1, count: 32)),
        .sessionSecure(mac: Array(repeating: 2, count: 32)),
        .reportMessage(sequence: 7, sealed: Array("hello".utf8) + Array(repeating: 3, count: 16)),
        .messageAcknowledged(sequence: 7, sealed: Array(repeating: 3, count: 16)),
        .endOfReport(sequence: 8, sealed: Array(repeating: 4, count: 16)),
        .receipt(sequence: 8, sealed: Array(repeating: 5, count: 40)),
        .keepAlive,
        .assignmentsQuery,
        .assignmentList([
            ListedAssignment(name: "a1", deadline: "2026-12-01T23:59:59Z", refusesLate: false),
            ListedAssignment(name: "report", deadline: "", refusesLate: true),
        ]),
        .assignmentList([]),
        .error(CampusError(.sidMismatch, "no")),
    ]

    @Test func theAssignmentQueryAndListLayouts() throws {
        #expect(Array(WireMessage.assignmentsQuery.encoded().readableBytesView) == [0x02, 0x1A])
        let list = WireMessage.assignmentList([ListedAssignment(name: "a1", deadline: "", refusesLate: true)])
        #expect(
            Array(list.encoded().readableBytesView)
                == [0x02, 0x1B, 0, 0, 0, 1, 0, 0, 0, 2, 0x61, 0x31, 0, 0, 0, 0, 1])
        func code(_ bytes: [UInt8]) -> CampusError.Code? {
            do {
                _ = try WireMessage.decode(ByteBuffer(bytes: bytes))
                return nil
            } catch {
                return (error as? CampusError)?.code
            }
        }
        #expect(code([0x02, 0x1A, 0]) == .malformedMessage)
        #expect(code([0x02, 0x1B, 0, 0, 0, 1, 0, 0, 0, 2, 0x61, 0x31, 0, 0, 0, 0, 2]) == .malformedMessage)
        #expect(code([0x02, 0x1B, 0, 0, 0, 101]) == .malformedMessage)
        #expect(code([0x02, 0x1B, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == .malformedMessage)
    }

    @Test(arguments: samples)
    func roundTrips(_ message: WireMessage) throws {
        let payload = message.encoded()
        #expect(payload.getInteger(at: 0, as: UInt8.self) == 2)
        #expect(payload.getInteger(at: 1, as: UInt8.self) == message.kind.rawValue)
        #expect(try WireMessage.decode(payload) == message)
    }

    @Test func errorLayoutIsCodeThenReason() {
        let payload = WireMessage.error(CampusError(.keyTooSmall, "ab")).encoded()
        #expect(Array(payload.readableBytesView) == [0x02, 0x7F, 0x00, 0x67, 0, 0, 0, 2, 0x61, 0x62])
    }

    @Test func refusesUnknownVersionTypeAndDamage() {
        func code(_ bytes: [UInt8]) -> CampusError.Code? {
            do {
                _ = try WireMessage.decode(ByteBuffer(bytes: bytes))
                return nil
            } catch {
                return (error as? CampusError)?.code
            }
        }
        #expect(code([1, 0x01, 0, 0, 0, 0]) == .unsupportedVersion)  // a version-1 peer
        #expect(code([3, 0x01, 0, 0, 0, 0]) == .unsupportedVersion)
        #expect(code([2, 0x55]) == .unknownMessageType)
        #expect(code([2]) == .malformedMessage)
        #expect(code([2, 0x09, 0xff, 0xff, 0xff, 0xff]) == .malformedMessage)  // field longer than the payload
        #expect(code([2, 0x18, 9]) == .malformedMessage)  // trailing byte
        #expect(code([2, 0x12, 1, 2, 3]) == .malformedMessage)  // MAC too short
        #expect(code([2, 0x08, 0, 0, 0, 2, 0xff, 0xfe]) == .malformedMessage)  // not UTF-8
        // A sealed field shorter than its 16-byte tag.
        #expect(code([2, 0x15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2]) == .malformedMessage)
    }

    /// The enrollment without a secure channel (types 0x01–0x06) is withdrawn: its numbers stay reserved, and a
    /// payload of one of them is refused with a reason that says so.
    @Test func theWithdrawnEnrollmentTypesAreRefusedAsSuch() {
        for type in WireMessage.withdrawnKinds {
            #expect(WireMessage.Kind(rawValue: type) == nil)
            #expect {
                _ = try WireMessage.decode(ByteBuffer(bytes: [2, type, 0, 0, 0, 0]))
            } throws: { error in
                guard let error = error as? CampusError else { return false }
                return error.code == .unknownMessageType && error.reason.contains("withdrawn")
                    && error.reason.contains("enrollment hello (0x07)")
            }
        }
        #expect(WireMessage.Kind.allCases.filter { (0x07...0x0F).contains($0.rawValue) }.count == 6)
    }

    @Test func stableCodesAreUnique() {
        let codes = CampusError.Code.allCases
        #expect(Set(codes.map(\.rawValue)).count == codes.count)
        #expect(Set(codes.map(\.name)).count == codes.count)
    }
}

@Suite struct FrameDecoderTests {
    func makeChannel(maximum: Int = 16) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameDecoder(maximumFrameSize: maximum))
        )
        try channel.pipeline.syncOperations.addHandler(
            FrameEncoder(limit: FrameSizeLimit(first: maximum, following: maximum), maximumFrameSize: maximum))
        return channel
    }

    @Test func splitsFramesAcrossAndWithinReads() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 2, 0xa, 0xb, 0, 0]))
        try channel.writeInbound(ByteBuffer(bytes: [0, 1, 0xc]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xa, 0xb]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xc]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
    }

    @Test func refusesOversizedLengthBeforeThePayloadArrives() throws {
        let channel = try makeChannel(maximum: 16)
        #expect {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 17]))
        } throws: { error in
            (error as? CampusError)?.code == .frameTooLarge
        }
    }

    @Test func reportsATruncatedFrameAtEndOfInput() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 9, 1, 2]))
        #expect {
            _ = try channel.finish()
        } throws: { error in
            (error as? CampusError)?.code == .truncatedFrame
        }
    }

    @Test func prependsTheLengthOnOutput() throws {
        let channel = try makeChannel()
        try channel.writeOutbound(ByteBuffer(bytes: [7, 8, 9]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0, 0, 0, 3]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [7, 8, 9]))
    }
}
