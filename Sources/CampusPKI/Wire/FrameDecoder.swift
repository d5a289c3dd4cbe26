import NIOCore

/// Splits the byte stream into frames: a 4-byte big-endian length, then that many payload bytes.
///
/// NIOExtras' `LengthFieldBasedFrameDecoder` has no upper bound on the length, so it would buffer whatever a
/// peer announces. This decoder refuses a length above `maximumFrameSize` as soon as the 4 length bytes
/// arrive, before any memory is spent on the payload.
///
/// The limit may change while the connection is open (``FrameSizeLimit``): Blackboard accepts only frames the size
/// of handshake messages until the handshake is complete.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    private let limit: FrameSizeLimit

    /// The largest payload accepted now, in bytes.
    public var maximumFrameSize: Int { limit.next }

    /// A decoder with one limit for every frame.
    public init(maximumFrameSize: Int) {
        self.init(limit: FrameSizeLimit(first: maximumFrameSize, following: maximumFrameSize))
    }

    /// A decoder whose limit `limit` holds, shared with the handler that changes it.
    init(limit: FrameSizeLimit) {
        self.limit = limit
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            return .needMoreData
        }
        let maximumFrameSize = limit.next
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
        limit.frameDecoded()
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

/// The largest frame a connection accepts: one limit for the first frame, another for the frames after it, until the
/// connection's owner raises both at once (``FramePipeline/RaiseFrameLimit``).
///
/// Shared by the connection's ``FrameDecoder`` and the handler that receives the event; both run on the channel's
/// event loop, which is the only place it is used.
final class FrameSizeLimit {
    /// The limit of the next frame.
    private(set) var next: Int
    private var following: Int

    init(first: Int, following: Int) {
        self.next = first
        self.following = following
    }

    /// A frame was decoded: the next one has the following frames' limit.
    func frameDecoded() {
        next = following
    }

    /// Every frame from now on may have `bytes` bytes.
    func raise(to bytes: Int) {
        next = bytes
        following = bytes
    }
}
