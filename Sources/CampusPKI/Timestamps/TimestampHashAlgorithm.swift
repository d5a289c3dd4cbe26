import Crypto
import Foundation
import SwiftASN1

/// The hash algorithms a timestamp request may use for its message imprint: SHA-256, SHA-384 and SHA-512.
///
/// SHA-1 and anything else is refused (`badAlg`): a timestamp over a SHA-1 imprint would prove the time of
/// any document with the same SHA-1, and SHA-1 collisions can be made.
public enum TimestampHashAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha256 = "sha256"
    case sha384 = "sha384"
    case sha512 = "sha512"

    /// The algorithm's object identifier (NIST, RFC 5754).
    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .sha256: [2, 16, 840, 1, 101, 3, 4, 2, 1]
        case .sha384: [2, 16, 840, 1, 101, 3, 4, 2, 2]
        case .sha512: [2, 16, 840, 1, 101, 3, 4, 2, 3]
        }
    }

    /// The algorithm with this identifier, or `nil` for one not accepted here.
    public init?(oid: ASN1ObjectIdentifier) {
        guard let algorithm = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
        self = algorithm
    }

    /// How many bytes a digest has.
    public var digestLength: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// The digest of `bytes`.
    public func hash(_ bytes: some DataProtocol) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha384: Array(SHA384.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }

    /// Writes the `AlgorithmIdentifier` with its parameters absent (RFC 5754 section 2).
    func serialize(into coder: inout DER.Serializer, nullParameters: Bool = false) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(oid)
            if nullParameters { try coder.serialize(ASN1Null()) }
        }
    }
}
