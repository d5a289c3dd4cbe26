import NIOCore

/// Splits the byte stream into frames: a 4-byte big-endian length, then that many payload bytes.
///
/// NIOExtras' `LengthFieldBasedFrameDecoder` has no upper bound on the length, so it would buffer whatever a
/// peer announces. This decoder refuses a length above `maximumFrameSize` as soon as the 4 length bytes
/// arrive, before any memory is spent on the payload.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The largest payload accepted, in bytes.
    public let maximumFrameSize: Int

    public init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            return .needMoreData
        }
        guard Int(length) <= maximumFrameSize else {
            throw CampusError(
                .frameTooLarge,
                "frame of \(length) bytes announced; the maximum is \(maximumFrameSize) bytes"
            )
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            let count = buffer.readableBytes
            buffer.clear()
            throw CampusError(.truncatedFrame, "the connection ended inside a frame (\(count) bytes left over)")
        }
        return .needMoreData
    }
}
