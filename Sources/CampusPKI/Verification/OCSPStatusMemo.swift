import X509

/// Remembers that an OCSP check found a certificate good, for as long as the signed answer it checked is still the
/// one the requester would give again, so that the same answer is not parsed and its signature verified again in
/// every handshake.
///
/// ``RevocationPolicy`` asks ``vouches(for:)`` after the revocation list and before OCSP, and tells
/// ``checked(_:)`` when swift-certificates' `OCSPVerifierPolicy` accepted the chain. An implementation vouches only
/// for an answer that is still kept, unchanged and before its `nextUpdate`: it saves the work of checking that
/// answer again, never the asking for a new one.
public protocol OCSPStatusMemo: Sendable {
    /// Whether an answer checked before, and still the one that would be given now, found the leaf good.
    func vouches(for chain: UnverifiedCertificateChain) -> Bool

    /// The OCSP check of `chain` passed: the answer the requester gave for its leaf says good.
    func checked(_ chain: UnverifiedCertificateChain)
}
