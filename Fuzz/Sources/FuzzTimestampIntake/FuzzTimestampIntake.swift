// Fuzzes what CUHK's timestamp authority reads from `POST /tsa` (a TimeStampReq), and what a verifier reads from a
// TSA or a file before any signature is checked: a TimeStampResp, a token (the CMS SignedData reader and the
// TSTInfo inside it) and a deadline manifest's head.
//
// A request that is read must be written back byte for byte (DER has one encoding), and a reply likewise.
import CampusPKI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))

    // The throws are typed: a refusal can only be a TimestampError (or a ManifestError).
    if let request = try? TimestampRequest(derEncoded: bytes) {
        guard request.derEncoded() == bytes else {
            fatalError("a request was read but is not written back as it came: \(bytes)")
        }
    }
    if let reply = try? TimestampResponse(derEncoded: bytes) {
        guard reply.derEncoded() == bytes else {
            fatalError("a reply was read but is not written back as it came: \(bytes)")
        }
        _ = try? reply.grantedToken()
    }
    _ = try? TimestampToken(derEncoded: bytes)
    _ = try? ManifestDocument(parsing: bytes)
    return 0
}
