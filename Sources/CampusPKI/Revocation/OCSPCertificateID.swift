import Crypto
import Foundation
import SwiftASN1
import X509

/// An OCSP `CertID` (RFC 6960 section 4.1.1): which certificate a request asks about and which issuer it names.
///
/// The DER it was read from is kept, so that a response repeats the request's `CertID` byte for byte (clients
/// compare them).
public struct OCSPCertificateID: Sendable, Hashable {
    /// The hash algorithms a `CertID` may use here.
    public enum HashAlgorithm: Sendable, Hashable, CaseIterable {
        case sha1, sha256, sha384, sha512

        /// The algorithm's object identifier.
        public var oid: ASN1ObjectIdentifier {
            switch self {
            case .sha1: [1, 3, 14, 3, 2, 26]
            case .sha256: [2, 16, 840, 1, 101, 3, 4, 2, 1]
            case .sha384: [2, 16, 840, 1, 101, 3, 4, 2, 2]
            case .sha512: [2, 16, 840, 1, 101, 3, 4, 2, 3]
            }
        }

        init?(oid: ASN1ObjectIdentifier) {
            guard let algorithm = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
            self = algorithm
        }

        func hash(_ bytes: some DataProtocol) -> [UInt8] {
            // SHA-1 is what most clients (OpenSSL, swift-certificates) send; here it only names the issuer, it
            // protects nothing, so accepting it is no weakness.
            switch self {
            case .sha1: Array(Insecure.SHA1.hash(data: bytes))
            case .sha256: Array(SHA256.hash(data: bytes))
            case .sha384: Array(SHA384.hash(data: bytes))
            case .sha512: Array(SHA512.hash(data: bytes))
            }
        }
    }

    /// The hash algorithm's identifier as sent (it may be one this responder does not know).
    public var hashAlgorithmOID: ASN1ObjectIdentifier
    public var issuerNameHash: [UInt8]
    public var issuerKeyHash: [UInt8]
    /// The serial number's bytes, as in the certificate.
    public var serialNumber: [UInt8]
    /// The DER encoding, as received or as made.
    public var derEncoded: [UInt8]

    /// The serial in lower-case hex, as CUHK's registry keys it.
    public var serialHex: String { serialNumber.hexString }

    /// The `CertID` of `certificate` issued by `issuer`, as a client makes it.
    public init(certificate: Certificate, issuer: Certificate, hashAlgorithm: HashAlgorithm = .sha1) throws {
        try self.init(
            hashAlgorithm: hashAlgorithm,
            issuerNameHash: hashAlgorithm.hash(try Self.encoded(issuer.subject)),
            issuerKeyHash: hashAlgorithm.hash(issuer.publicKey.subjectPublicKeyInfoBytes),
            serialNumber: Array(certificate.serialNumber.bytes)
        )
    }

    init(hashAlgorithm: HashAlgorithm, issuerNameHash: [UInt8], issuerKeyHash: [UInt8], serialNumber: [UInt8]) throws {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(hashAlgorithm.oid)
                try coder.serialize(ASN1Null())
            }
            try coder.serialize(ASN1OctetString(contentBytes: issuerNameHash[...]))
            try coder.serialize(ASN1OctetString(contentBytes: issuerKeyHash[...]))
            try coder.serialize(serialNumber[...])
        }
        try self.init(derEncoded: DER.parse(serializer.serializedBytes))
    }

    /// Reads a `CertID`.
    ///
    /// - Throws: `ASN1Error` when it is not one.
    public init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            guard let algorithmNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "no hashAlgorithm")
            }
            let oid = try DER.sequence(algorithmNode, identifier: .sequence) { algorithm in
                let oid = try ASN1ObjectIdentifier(derEncoded: &algorithm)
                _ = algorithm.next()  // absent or NULL parameters
                return oid
            }
            let nameHash = try ASN1OctetString(derEncoded: &nodes)
            let keyHash = try ASN1OctetString(derEncoded: &nodes)
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            return OCSPCertificateID(
                hashAlgorithmOID: oid, issuerNameHash: Array(nameHash.bytes), issuerKeyHash: Array(keyHash.bytes),
                serialNumber: Array(serial), derEncoded: Array(node.encodedBytes))
        }
    }

    private init(
        hashAlgorithmOID: ASN1ObjectIdentifier, issuerNameHash: [UInt8], issuerKeyHash: [UInt8],
        serialNumber: [UInt8], derEncoded: [UInt8]
    ) {
        self.hashAlgorithmOID = hashAlgorithmOID
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
        self.derEncoded = derEncoded
    }

    /// The DER of a name, which `issuerNameHash` hashes.
    static func encoded(_ name: DistinguishedName) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(name)
        return serializer.serializedBytes
    }

    /// Whether this `CertID` names `issuer` (its name and key hashes match), with a hash algorithm known here.
    public func names(issuer: Certificate) -> Bool {
        guard let algorithm = HashAlgorithm(oid: hashAlgorithmOID),
            let name = try? Self.encoded(issuer.subject)
        else { return false }
        return algorithm.hash(name) == issuerNameHash
            && algorithm.hash(issuer.publicKey.subjectPublicKeyInfoBytes) == issuerKeyHash
    }
}
