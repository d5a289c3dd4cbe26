// Fuzzes the frame decoder, the first code that sees a peer's bytes on every connection.
//
// The first input byte chooses the largest frame accepted (its low 3 bits) and how the rest of the input is cut
// into reads (its high 5 bits; 0 means one read). The rest is the byte stream. The decoder runs the way
// FramePipeline installs it, on an EmbeddedChannel, and its frames and its error are compared with a plain model
// of the format: a 4-byte big-endian length, then that many bytes.
import CampusPKI
import FuzzSupport
import NIOCore
import NIOEmbedded

let frameSizes = [0, 1, 7, 64, 255, 4096, 65536, 1 << 20]

/// What the decoder must do with `stream`: the frames before the first problem, and the problem, if any.
func model(_ stream: [UInt8], maximumFrameSize: Int) -> (frames: [[UInt8]], error: CampusError.Code?) {
    var frames: [[UInt8]] = []
    var offset = 0
    while offset < stream.count {
        guard stream.count - offset >= 4 else { return (frames, .truncatedFrame) }
        let length = stream[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= maximumFrameSize else { return (frames, .frameTooLarge) }
        guard stream.count - offset - 4 >= length else { return (frames, .truncatedFrame) }
        frames.append(Array(stream[offset + 4..<offset + 4 + length]))
        offset += 4 + length
    }
    return (frames, nil)
}

/// The settings byte for a largest frame of `frameSizes[sizeIndex]` and reads of `readSize` bytes.
func settings(sizeIndex: UInt8, readSize: UInt8) -> [UInt8] { [readSize << 3 | sizeIndex] }

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    SeedMessages.writeIfAsked {
        let frames = SeedMessages.all.map { ($0.name, SeedMessages.frame($0.message)) }
        let stream = frames.flatMap(\.1)
        let first = frames[0].1
        return frames.map { ("frame-\($0.0)", settings(sizeIndex: 6, readSize: 0) + $0.1) } + [
            ("stream-one-read", settings(sizeIndex: 6, readSize: 0) + stream),
            ("stream-reads-of-7", settings(sizeIndex: 6, readSize: 7) + stream),
            ("stream-reads-of-1", settings(sizeIndex: 6, readSize: 1) + stream),
            ("truncated", settings(sizeIndex: 6, readSize: 3) + first.dropLast()),
            ("too-large", settings(sizeIndex: 3, readSize: 5) + stream),
            ("empty-frames", settings(sizeIndex: 0, readSize: 2) + [0, 0, 0, 0, 0, 0, 0, 0]),
        ]
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard let settings = input.first else { return 0 }
    let maximumFrameSize = frameSizes[Int(settings & 0x07)]
    let stream = Array(input.dropFirst())
    let readSize = settings >> 3 == 0 ? max(stream.count, 1) : Int(settings >> 3)

    let channel = EmbeddedChannel(
        handler: ByteToMessageHandler(
            FrameDecoder(maximumFrameSize: maximumFrameSize),
            maximumBufferSize: maximumFrameSize + 4
        )
    )
    var frames: [[UInt8]] = []
    var thrown: CampusError?
    func drain() {
        do {
            while let frame = try channel.readInbound(as: ByteBuffer.self) {
                frames.append(Array(frame.readableBytesView))
            }
        } catch {
            fatalError("reading a decoded frame failed: \(error)")
        }
    }

    var offset = 0
    while offset < stream.count {
        let end = min(offset + readSize, stream.count)
        do {
            try channel.writeInbound(ByteBuffer(bytes: stream[offset..<end]))
        } catch let error as CampusError {
            thrown = error
        } catch {
            FuzzInput.unexpected(error, in: "FrameDecoder")
        }
        drain()
        if thrown != nil { break }
        offset = end
    }
    do {
        // The connection ends: decodeLast runs and must refuse a partial frame.
        let leftOvers = try channel.finish()
        if thrown == nil, !leftOvers.isClean { fatalError("frames decoded at the end of the stream: \(leftOvers)") }
    } catch let error as CampusError {
        if thrown == nil { thrown = error }
    } catch {
        FuzzInput.unexpected(error, in: "FrameDecoder at the end of the stream")
    }

    let expected = model(stream, maximumFrameSize: maximumFrameSize)
    guard frames == expected.frames, thrown?.code == expected.error else {
        fatalError(
            "maximum \(maximumFrameSize), reads of \(readSize): decoded \(frames.count) frames and "
                + "\(thrown.map { "\($0)" } ?? "no error"); the model says \(expected.frames.count) frames and "
                + "\(expected.error.map { "\($0.name)" } ?? "no error")"
        )
    }
    return 0
}
