import Logging
import SwiftASN1
import X509

/// Whether cert 2 is still good, asked of the OCSP responder its Authority Information Access names, with
/// swift-certificates' `OCSPVerifierPolicy` doing the asking and the checking of the signed answer.
///
/// A certificate without an OCSP URL (issued before CUHK ran a responder) is not checked. A revoked certificate
/// fails with `certificate-revoked`. When the status cannot be learned (the responder is down, its answer is not
/// signed by the root, is stale, or says `unknown`), ``Mode/hard`` fails with `revocation-unknown` and
/// ``Mode/soft`` accepts the certificate and logs why.
public struct RevocationPolicy: VerifierPolicy, Sendable {
    /// What to do when the status cannot be learned.
    public enum Mode: String, Sendable, CaseIterable {
        /// Refuse the certificate (the default).
        case hard
        /// Accept the certificate, and log it.
        case soft
        /// Do not ask at all.
        case off
    }

    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    public var mode: Mode
    private var ocsp: OCSPVerifierPolicy<AnyOCSPRequester>
    private let revocationListed: @Sendable (String) -> CampusError?
    private let memo: (any OCSPStatusMemo)?
    private let logger: Logger

    /// - Parameters:
    ///   - mode: Hard, soft or off.
    ///   - requester: Sends the DER request to the responder's URL (and may answer from a cache).
    ///   - revocationListed: The refusal for a serial (lower-case hex) that a revocation list names, or `nil`;
    ///     asked first, so that a revocation learned from the list wins over an OCSP answer kept from before it.
    ///   - memo: Vouches for a leaf whose kept OCSP answer was checked before; asked after the revocation list.
    ///   - logger: Receives why a status could not be learned.
    public init(
        mode: Mode, requester: some OCSPRequester,
        revocationListed: @escaping @Sendable (String) -> CampusError? = { _ in nil },
        memo: (any OCSPStatusMemo)? = nil, logger: Logger
    ) {
        self.mode = mode
        self.revocationListed = revocationListed
        self.memo = memo
        // Always hard inside: soft mode is decided here, so that what it lets through is logged. The requester
        // reports a failed request as terminal, which the inner policy would otherwise let pass even when hard.
        self.ocsp = OCSPVerifierPolicy(failureMode: .hard, requester: AnyOCSPRequester(requester))
        self.logger = logger
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult
    {
        guard mode != .off else { return .meetsPolicy }
        let serial = chain.leaf.serialNumber.hex
        if let refusal = revocationListed(serial) {
            logger.notice("certificate revoked (revocation list)", metadata: ["serial": "\(serial)"])
            return Self.failure(refusal.code, refusal.reason)
        }
        if let memo, memo.vouches(for: chain) { return .meetsPolicy }
        switch await ocsp.chainMeetsPolicyRequirements(chain: chain) {
        case .meetsPolicy:
            memo?.checked(chain)
            return .meetsPolicy
        case .failsToMeetPolicy(let failure):
            let cause = "\(failure)"
            if let range = cause.range(of: "revoked through OCSP, reason: ") {
                let reason = cause[range.upperBound...]
                logger.notice("certificate revoked", metadata: ["serial": "\(serial)", "reason": "\(reason)"])
                return Self.failure(
                    .certificateRevoked, "CUHK has revoked this certificate (serial \(serial), reason \(reason))")
            }
            logger.warning(
                "revocation status unknown",
                metadata: ["serial": "\(serial)", "mode": "\(mode.rawValue)", "cause": "\(cause)"])
            if mode == .soft { return .meetsPolicy }
            // The cause stays in the log: it may name library internals.
            return Self.failure(
                .revocationUnknown,
                "CUHK's OCSP responder could not confirm that this certificate (serial \(serial)) is not revoked; "
                    + "try again later")
        }
    }
}

/// Any `OCSPRequester`, so that ``RevocationPolicy`` is not generic.
struct AnyOCSPRequester: OCSPRequester {
    let base: any OCSPRequester

    init(_ base: some OCSPRequester) {
        self.base = base
    }

    func query(request: [UInt8], uri: String) async -> OCSPRequesterQueryResult {
        await base.query(request: request, uri: uri)
    }
}
