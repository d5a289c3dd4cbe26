import Crypto
import Foundation
import SwiftASN1
import _CryptoExtras

/// What a renewal is signed over: proof that the holder of the current certificate's key asks for this new CSR, in
/// this enrollment channel (so a proof recorded or relayed elsewhere is worthless).
///
/// The signed bytes are the ASCII label `CampusPKI v2 renewal`, the channel's transcript hash TH_hov (which holds both
/// fresh key shares) and the SHA-256 of the new CSR's DER; the signature is RSASSA-PSS with SHA-256, MGF1-SHA-256 and
/// a 32-byte salt, made with the current certificate's key.
public enum RenewalProof {
    public static let label = "CampusPKI v2 renewal"

    /// The bytes the proof signs.
    public static func message(transcriptDigest: [UInt8], csrDER: [UInt8]) -> [UInt8] {
        Array(label.utf8) + transcriptDigest + Array(SHA256.hash(data: csrDER))
    }

    /// Signs the proof with the current key.
    public static func sign(transcriptDigest: [UInt8], csrDER: [UInt8], with key: _RSA.Signing.PrivateKey) throws
        -> [UInt8]
    {
        Array(
            try key.signature(for: message(transcriptDigest: transcriptDigest, csrDER: csrDER), padding: .PSS)
                .rawRepresentation)
    }

    /// Whether `signature` is the proof for this channel and CSR by the key of `publicKey`.
    public static func isValid(
        _ signature: [UInt8], transcriptDigest: [UInt8], csrDER: [UInt8], publicKey: _RSA.Signing.PublicKey
    ) -> Bool {
        publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature),
            for: message(transcriptDigest: transcriptDigest, csrDER: csrDER), padding: .PSS)
    }
}
