import NIOCore
import NIOEmbedded
import Testing

@testable import CampusPKI

/// A connection's frame limit can start small (the first frame, then the frames after it) and be raised later.
@Suite struct FrameLimitTests {
    func makeChannel(first: Int, following: Int, maximum: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let limit = FrameSizeLimit(first: first, following: following)
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameDecoder(limit: limit), maximumBufferSize: maximum + 4))
        try channel.pipeline.syncOperations.addHandler(FrameEncoder(limit: limit, maximumFrameSize: maximum))
        return channel
    }

    static func frame(_ size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(size))
        buffer.writeRepeatingByte(7, count: size)
        return buffer
    }

    static func isFrameTooLarge(_ error: any Error) -> Bool {
        (error as? CampusError)?.code == .frameTooLarge
    }

    @Test func theFirstFrameMayBeLargerThanTheOnesAfterIt() throws {
        let channel = try makeChannel(first: 100, following: 10, maximum: 1000)
        try channel.writeInbound(Self.frame(100))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 100)
        try channel.writeInbound(Self.frame(10))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 10)
        // Refused on the length alone, before any of the payload arrives.
        #expect(throws: CampusError.self) { try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 11])) }
    }

    @Test func eachPayloadGoesOutAfterItsLengthInFourBigEndianBytes() throws {
        let channel = try makeChannel(first: 100, following: 10, maximum: 1000)
        try channel.writeOutbound(ByteBuffer(bytes: [1, 2, 3]))
        try channel.writeOutbound(ByteBuffer(repeating: 9, count: 300))
        var sent = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { sent.writeBuffer(&part) }
        #expect(sent.readBytes(length: 7) == [0, 0, 0, 3, 1, 2, 3])
        #expect(sent.readBytes(length: 4) == [0, 0, 0x01, 0x2C])
        #expect(sent.readableBytes == 300)
    }

    @Test func aFirstFrameOverItsLimitIsRefusedOnItsLength() throws {
        let channel = try makeChannel(first: 100, following: 10, maximum: 1000)
        #expect {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 101]))
        } throws: { Self.isFrameTooLarge($0) }
    }

    @Test func raisingTheLimitLetsLargeFramesThroughUpToTheMaximum() throws {
        let channel = try makeChannel(first: 100, following: 10, maximum: 1000)
        try channel.writeInbound(Self.frame(50))
        _ = try channel.readInbound(as: ByteBuffer.self)
        // More than the maximum is asked for; the maximum is what applies.
        try channel.pipeline.triggerUserOutboundEvent(FramePipeline.RaiseFrameLimit(to: 5000)).wait()
        try channel.writeInbound(Self.frame(1000))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 1000)
        try channel.writeInbound(Self.frame(1000))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 1000)
        #expect {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0x03, 0xE9]))
        } throws: { Self.isFrameTooLarge($0) }
    }
}
