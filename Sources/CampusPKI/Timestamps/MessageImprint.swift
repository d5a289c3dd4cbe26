import Foundation
import SwiftASN1

/// What a timestamp is for (RFC 3161 `MessageImprint`): a hash algorithm and the digest of the timestamped data.
///
/// ```
/// MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
/// ```
public struct MessageImprint: Sendable, Hashable {
    public var hashAlgorithm: TimestampHashAlgorithm
    /// The digest; exactly ``TimestampHashAlgorithm/digestLength`` bytes.
    public var hashedMessage: [UInt8]
    /// Whether the algorithm's parameters are a NULL rather than absent. OpenSSL writes the NULL; the TSA copies the
    /// request's form into the token, because RFC 3161 asks for the same value and verifiers compare it.
    public var hasNullParameters: Bool

    /// An imprint of a digest already computed.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` when the digest does not have the algorithm's length.
    public init(
        hashAlgorithm: TimestampHashAlgorithm, hashedMessage: [UInt8], hasNullParameters: Bool = false
    ) throws(TimestampError) {
        guard hashedMessage.count == hashAlgorithm.digestLength else {
            throw .malformed(
                "the \(hashAlgorithm.rawValue) digest has \(hashedMessage.count) bytes instead of "
                    + "\(hashAlgorithm.digestLength)")
        }
        self.hashAlgorithm = hashAlgorithm
        self.hashedMessage = hashedMessage
        self.hasNullParameters = hasNullParameters
    }

    /// The imprint of `data`.
    public init(of data: some DataProtocol, hashAlgorithm: TimestampHashAlgorithm = .sha256) {
        self.hashAlgorithm = hashAlgorithm
        self.hashedMessage = hashAlgorithm.hash(data)
        self.hasNullParameters = false
    }

    /// Reads a `MessageImprint`.
    ///
    /// - Throws: ``TimestampError/unsupportedAlgorithm(_:)`` for a hash other than SHA-256, SHA-384 or SHA-512 (or
    ///   with parameters other than absent or NULL), ``TimestampError/malformed(_:)`` for anything else wrong.
    public init(derEncoded node: ASN1Node) throws(TimestampError) {
        do {
            self = try DER.sequence(node, identifier: .sequence) { nodes in
                guard let algorithmNode = nodes.next() else {
                    throw TimestampError.malformed("the message imprint has no hash algorithm")
                }
                let algorithm: AlgorithmIdentifierValue
                do {
                    algorithm = try AlgorithmIdentifierValue(derEncoded: algorithmNode)
                } catch {
                    throw TimestampError.unsupportedAlgorithm(
                        "the hash algorithm is not an identifier with absent or NULL parameters, as SHA-2's are")
                }
                guard let hash = TimestampHashAlgorithm(oid: algorithm.oid) else {
                    throw TimestampError.unsupportedAlgorithm(
                        "the hash algorithm \(algorithm.oid) is not accepted; use SHA-256, SHA-384 or SHA-512")
                }
                let digest = try ASN1OctetString(derEncoded: &nodes)
                return try MessageImprint(
                    hashAlgorithm: hash, hashedMessage: Array(digest.bytes),
                    hasNullParameters: algorithm.hasNullParameters)
            }
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the message imprint is not a DER MessageImprint")
        }
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try hashAlgorithm.serialize(into: &coder, nullParameters: hasNullParameters)
            try coder.serialize(ASN1OctetString(contentBytes: hashedMessage[...]))
        }
    }

    /// Whether `other` states the same algorithm and digest (the parameters' form aside).
    public func matches(_ other: MessageImprint) -> Bool {
        hashAlgorithm == other.hashAlgorithm && hashedMessage == other.hashedMessage
    }
}
