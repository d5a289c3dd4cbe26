// Fuzzes WireMessage.decode, which reads every frame's payload on all three programs, for every message type.
//
// A payload that decodes must survive the round trip: encoding the message gives the very bytes that came in
// (the format has one encoding per message; the only exception is an error frame with a code this version does
// not know, which decodes as internal-error and keeps the number in its reason), and decoding those gives the
// same message.
import CampusPKI
import FuzzSupport
import NIOCore

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    SeedMessages.writeIfAsked { SeedMessages.all.map { ($0.name, SeedMessages.payload($0.message)) } }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let payload = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    let message: WireMessage
    do {
        message = try WireMessage.decode(payload)
    } catch is CampusError {
        return 0
    } catch {
        FuzzInput.unexpected(error, in: "WireMessage.decode")
    }

    let encoded = message.encoded()
    let decoded: WireMessage
    do {
        decoded = try WireMessage.decode(encoded)
    } catch {
        fatalError("\(message.kind) decoded, but its own encoding does not: \(error)")
    }
    guard decoded == message else {
        fatalError("\(message.kind) changed in a round trip: \(message) became \(decoded)")
    }
    var knownCode = true
    if message.kind == .error, let code = payload.getInteger(at: payload.readerIndex + 2, as: UInt16.self) {
        knownCode = CampusError.Code(rawValue: code) != nil
    }
    guard !knownCode || encoded == payload else {
        fatalError(
            "\(message.kind) decoded from \(payload.readableBytes) bytes re-encodes to \(encoded.readableBytes) "
                + "other bytes"
        )
    }
    return 0
}
