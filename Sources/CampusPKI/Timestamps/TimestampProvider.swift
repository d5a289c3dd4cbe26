/// A timestamp authority as a signer sees it: a DER `TimeStampReq` in, a DER `TimeStampResp` out.
///
/// CUHK's own service conforms (in-process); a client over HTTP (`POST /tsa`) can as well.
public protocol TimestampProvider: Sendable {
    /// Sends `request` to the authority and returns its reply.
    ///
    /// - Throws: When the authority cannot be reached (a refusal is a reply, not an error).
    func reply(to request: [UInt8]) async throws -> [UInt8]
}
