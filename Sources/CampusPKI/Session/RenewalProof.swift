import Crypto
import Foundation
import SwiftASN1
import _CryptoExtras

/// What a renewal is signed over: proof that the holder of the current certificate's key asks for this new CSR,
/// now, in answer to CUHK's fresh nonce (so a recorded proof cannot be replayed).
///
/// The signed bytes are the ASCII label `CampusPKI v1 renewal`, the 32-byte nonce, and the SHA-256 of the new
/// CSR's DER; the signature is RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, made with the current
/// certificate's key.
public enum RenewalProof {
    public static let label = "CampusPKI v1 renewal"

    /// The bytes the proof signs.
    public static func message(nonce: [UInt8], csrDER: [UInt8]) -> [UInt8] {
        Array(label.utf8) + nonce + Array(SHA256.hash(data: csrDER))
    }

    /// Signs the proof with the current key.
    public static func sign(nonce: [UInt8], csrDER: [UInt8], with key: _RSA.Signing.PrivateKey) throws -> [UInt8] {
        Array(try key.signature(for: message(nonce: nonce, csrDER: csrDER), padding: .PSS).rawRepresentation)
    }

    /// Whether `signature` is the proof for this nonce and CSR by the key of `publicKey`.
    public static func isValid(
        _ signature: [UInt8], nonce: [UInt8], csrDER: [UInt8], publicKey: _RSA.Signing.PublicKey
    ) -> Bool {
        publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature), for: message(nonce: nonce, csrDER: csrDER),
            padding: .PSS)
    }
}
