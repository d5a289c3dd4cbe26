/// Why a deadline manifest does not verify, cannot be read or cannot be made, each with a plain reason.
public enum ManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not a CMS SignedData with the manifest attached.
    case notCMS(String)
    /// The manifest text is not a manifest in canonical form, or a field is not valid.
    case malformedDocument(String)
    /// The signature does not match the manifest text.
    case badSignature(String)
    /// The signer is not Blackboard's certificate under the trusted root.
    case untrustedSigner(String)
    /// The manifest carries no CUHK timestamp over its signature, or the timestamp does not verify.
    case timestamp(String)
    /// An on-time manifest was timestamped later after its deadline than the window allows.
    case timestampedTooLate(String)
    /// The leaves given do not make the manifest's tree.
    case leavesMismatch(String)
    /// The receipt is not in the manifest's tree.
    case notIncluded(String)
    /// The receipt is for another assignment, deadline or status than the manifest.
    case receiptMismatch(String)
    /// What was given does not allow the check asked for.
    case missingEvidence(String)

    public var description: String {
        switch self {
        case .notCMS(let reason):
            "the file is not a signed manifest (CMS SignedData with the manifest text inside): \(reason)"
        case .malformedDocument(let reason): "the manifest text is not a valid CampusPKI deadline manifest: \(reason)"
        case .badSignature(let reason): "the manifest's signature check failed: \(reason)"
        case .untrustedSigner(let reason): "the manifest's signer is not trusted: \(reason)"
        case .timestamp(let reason): "the manifest's CUHK timestamp check failed: \(reason)"
        case .timestampedTooLate(let reason): "the manifest was timestamped too late after its deadline: \(reason)"
        case .leavesMismatch(let reason): "the leaves do not make the manifest's tree: \(reason)"
        case .notIncluded(let reason): "the receipt is not in the manifest: \(reason)"
        case .receiptMismatch(let reason): "the receipt does not belong in this manifest: \(reason)"
        case .missingEvidence(let reason): "the manifest cannot be checked as asked: \(reason)"
        }
    }
}
