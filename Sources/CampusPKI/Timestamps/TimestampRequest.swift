import Crypto
import SwiftASN1

/// A timestamp request (RFC 3161 section 2.4.1 `TimeStampReq`).
///
/// ```
/// TimeStampReq ::= SEQUENCE {
///    version        INTEGER { v1(1) },
///    messageImprint MessageImprint,
///    reqPolicy      TSAPolicyId OPTIONAL,
///    nonce          INTEGER OPTIONAL,
///    certReq        BOOLEAN DEFAULT FALSE,
///    extensions     [0] IMPLICIT Extensions OPTIONAL }
/// ```
///
/// Reading is strict: DER only, nothing after the request, at most ``maximumSize`` bytes, a nonce of at most
/// ``maximumNonceLength`` bytes, and no extensions (CUHK's TSA handles none, so RFC 3161 has it refuse them).
public struct TimestampRequest: Sendable, Hashable {
    /// The largest request read, in bytes. A request with a SHA-512 imprint and a 32-byte nonce has about 130.
    public static let maximumSize = 4096
    /// The longest nonce read, in bytes (OpenSSL sends 8).
    public static let maximumNonceLength = 32

    public var messageImprint: MessageImprint
    /// The policy asked for, if any.
    public var policy: TimestampPolicy?
    /// The nonce: a positive integer's big-endian bytes, without leading zeros. Echoed in the token.
    public var nonce: [UInt8]?
    /// Whether the token should carry the TSA's certificate.
    public var certificateRequested: Bool

    public init(
        messageImprint: MessageImprint, policy: TimestampPolicy? = nil, nonce: [UInt8]? = nil,
        certificateRequested: Bool = true
    ) {
        self.messageImprint = messageImprint
        self.policy = policy
        self.nonce = nonce
        self.certificateRequested = certificateRequested
    }

    /// A fresh random nonce of 8 bytes (64 bits) from the system CSPRNG.
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = max(bytes[0], 1)  // no leading zero byte, which an integer would not keep
        return bytes
    }

    /// Reads a DER request.
    ///
    /// - Throws: ``TimestampError/malformed(_:)``, ``TimestampError/unsupportedAlgorithm(_:)`` or
    ///   ``TimestampError/unacceptedExtension(_:)``, each with the first problem found.
    public init(derEncoded bytes: [UInt8]) throws(TimestampError) {
        guard bytes.count <= Self.maximumSize else {
            throw .malformed("the request has \(bytes.count) bytes, more than the \(Self.maximumSize) accepted")
        }
        do {
            let root = try DER.parse(bytes)
            self = try DER.sequence(root, identifier: .sequence) { nodes in
                let version = try Int(derEncoded: &nodes)
                guard version == 1 else {
                    throw TimestampError.malformed("the request's version is \(version); only version 1 exists")
                }
                guard let imprintNode = nodes.next() else {
                    throw TimestampError.malformed("the request has no message imprint")
                }
                let imprint = try MessageImprint(derEncoded: imprintNode)
                var policy: TimestampPolicy?
                if let node = nodes.peek(), node.identifier == .objectIdentifier {
                    _ = nodes.next()
                    policy = try TimestampPolicy(derEncoded: node)
                }
                let nonceBytes: ArraySlice<UInt8>? = try DER.optionalImplicitlyTagged(&nodes, tag: .integer)
                let nonce = nonceBytes.map { Array($0) }
                if let nonce, nonce.count > Self.maximumNonceLength {
                    throw TimestampError.malformed(
                        "the nonce has \(nonce.count) bytes, more than the \(Self.maximumNonceLength) accepted")
                }
                let certificateRequested = try DER.decodeDefault(&nodes, identifier: .boolean, defaultValue: false)
                if let node = nodes.next() {
                    guard node.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) else {
                        throw TimestampError.malformed("the request has a field after certReq that is not extensions")
                    }
                    throw TimestampError.unacceptedExtension("this timestamp authority accepts no request extensions")
                }
                return TimestampRequest(
                    messageImprint: imprint, policy: policy, nonce: nonce,
                    certificateRequested: certificateRequested)
            }
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the request is not a DER TimeStampReq")
        }
    }

    /// The DER encoding.
    public func derEncoded() -> [UInt8] {
        var serializer = DER.Serializer()
        // Only values checked at construction are written, so serializing cannot fail.
        try! serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(1)
            try messageImprint.serialize(into: &coder)
            policy?.serialize(into: &coder)
            if let nonce { try coder.serialize(nonce[...]) }
            if certificateRequested { try coder.serialize(true) }
        }
        return serializer.serializedBytes
    }
}

extension ASN1NodeCollection.Iterator {
    /// The next node, without consuming it.
    func peek() -> ASN1Node? {
        var copy = self
        return copy.next()
    }
}
