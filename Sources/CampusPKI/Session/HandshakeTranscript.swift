import Crypto
import NIOCore

/// Everything both sides have sent in the handshake, hashed, so the key confirmation covers all of it.
///
/// Each frame goes in exactly as on the wire: its 4-byte big-endian length, then its payload. If an attacker
/// changed the request text, the certificate or the encrypted key, the two sides' transcripts differ and the
/// confirmation MAC fails.
public struct HandshakeTranscript: Sendable {
    private var hash = SHA256()

    public init() {}

    /// Adds one frame's payload.
    public mutating func append(_ payload: ByteBuffer) {
        var length = UInt32(payload.readableBytes).bigEndian
        withUnsafeBytes(of: &length) { hash.update(bufferPointer: $0) }
        payload.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
    }

    /// SHA-256 of the frames so far.
    public var digest: [UInt8] { Array(hash.finalize()) }
}
