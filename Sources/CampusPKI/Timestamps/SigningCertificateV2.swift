import SwiftASN1
import X509

/// The signing-certificate-v2 attribute (RFC 5035, with the ESSCertIDv2 form RFC 5816 allows in timestamp tokens):
/// a hash of the signer's certificate, signed with the token, so that the certificate cannot be swapped for
/// another with the same key.
///
/// ```
/// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF PolicyInformation OPTIONAL }
/// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT { algorithm id-sha256 },
///                            certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }
/// IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
/// ```
struct SigningCertificateV2: Sendable, Hashable {
    /// `id-aa-signingCertificateV2`.
    static let attributeType: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 16, 2, 47]

    var hashAlgorithm: TimestampHashAlgorithm
    var certificateHash: [UInt8]
    /// The DER of the issuer's Name and the serial (big-endian, no leading zeros), when given.
    var issuerSerial: (issuer: [UInt8], serial: [UInt8])?

    static func == (left: Self, right: Self) -> Bool {
        left.hashAlgorithm == right.hashAlgorithm && left.certificateHash == right.certificateHash
            && left.issuerSerial?.issuer == right.issuerSerial?.issuer
            && left.issuerSerial?.serial == right.issuerSerial?.serial
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hashAlgorithm)
        hasher.combine(certificateHash)
    }

    /// The ESSCertIDv2 of `certificate` (`der` is its encoding), with SHA-256 and the issuer and serial.
    init(certificate: Certificate, der: [UInt8]) throws {
        hashAlgorithm = .sha256
        certificateHash = TimestampHashAlgorithm.sha256.hash(der)
        issuerSerial = (
            try SignedDataMessage.derOf { try $0.serialize(certificate.issuer) },
            Array(certificate.serialNumber.bytes)
        )
    }

    /// The attribute's value.
    func derEncoded() -> [UInt8] {
        var serializer = DER.Serializer()
        // Fixed, checked values only: serializing cannot fail.
        try! serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    // DER leaves out a DEFAULT value: SHA-256 is not written.
                    if hashAlgorithm != .sha256 { try hashAlgorithm.serialize(into: &coder) }
                    try coder.serialize(ASN1OctetString(contentBytes: certificateHash[...]))
                    if let issuerSerial {
                        try coder.appendConstructedNode(identifier: .sequence) { coder in
                            coder.appendConstructedNode(identifier: .sequence) { coder in
                                // GeneralName directoryName [4] EXPLICIT Name.
                                coder.appendConstructedNode(
                                    identifier: .init(tagWithNumber: 4, tagClass: .contextSpecific)
                                ) { coder in coder.serializeRawBytes(issuerSerial.issuer) }
                            }
                            try coder.serialize(issuerSerial.serial[...])
                        }
                    }
                }
            }
        }
        return serializer.serializedBytes
    }

    /// Reads the attribute's value: the first ESSCertIDv2, which names the signer (RFC 5035 section 5.4).
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` or ``TimestampError/unsupportedAlgorithm(_:)``.
    init(derEncoded node: ASN1Node) throws(TimestampError) {
        do {
            self = try DER.sequence(node, identifier: .sequence) { nodes in
                guard let certs = nodes.next() else {
                    throw TimestampError.malformed("the signing-certificate-v2 attribute names no certificate")
                }
                _ = nodes.next()  // policies: none are required here
                return try DER.sequence(certs, identifier: .sequence) { ids in
                    guard let first = ids.next() else {
                        throw TimestampError.malformed("the signing-certificate-v2 attribute names no certificate")
                    }
                    while ids.next() != nil {}  // further certificates of the chain: not needed
                    return try DER.sequence(first, identifier: .sequence) { fields in
                        var algorithm = TimestampHashAlgorithm.sha256
                        if let node = fields.peek(), node.identifier == .sequence {
                            _ = fields.next()
                            let identifier = try AlgorithmIdentifierValue(derEncoded: node)
                            guard let known = TimestampHashAlgorithm(oid: identifier.oid) else {
                                throw TimestampError.unsupportedAlgorithm(
                                    "the signing certificate's hash is \(identifier.oid); SHA-256, SHA-384 and "
                                        + "SHA-512 are accepted")
                            }
                            algorithm = known
                        }
                        let hash = Array(try ASN1OctetString(derEncoded: &fields).bytes)
                        guard hash.count == algorithm.digestLength else {
                            throw TimestampError.malformed("the signing certificate's hash has the wrong length")
                        }
                        var issuerSerial: ([UInt8], [UInt8])?
                        if let node = fields.next() {
                            issuerSerial = try DER.sequence(node, identifier: .sequence) { parts in
                                guard let names = parts.next() else {
                                    throw TimestampError.malformed("the signing certificate's issuer is missing")
                                }
                                let issuer = try DER.sequence(names, identifier: .sequence) { generalNames in
                                    var found: [UInt8]?
                                    while let name = generalNames.next() {
                                        if found == nil,
                                            name.identifier
                                                == ASN1Identifier(tagWithNumber: 4, tagClass: .contextSpecific),
                                            case .constructed(let inner) = name.content
                                        {
                                            var names = inner.makeIterator()
                                            found = names.next().map { Array($0.encodedBytes) }
                                        }
                                    }
                                    guard let found else {
                                        throw TimestampError.malformed(
                                            "the signing certificate's issuer is not given as a directory name")
                                    }
                                    return found
                                }
                                return (issuer, Array(try ArraySlice<UInt8>(derEncoded: &parts)))
                            }
                        }
                        var value = SigningCertificateV2(hashAlgorithm: algorithm, certificateHash: hash)
                        value.issuerSerial = issuerSerial
                        return value
                    }
                }
            }
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the signing-certificate-v2 attribute cannot be read")
        }
    }

    private init(hashAlgorithm: TimestampHashAlgorithm, certificateHash: [UInt8]) {
        self.hashAlgorithm = hashAlgorithm
        self.certificateHash = certificateHash
        self.issuerSerial = nil
    }

    /// Why this does not name `certificate` (its encoding `der`), or `nil` when it does.
    func mismatch(with certificate: Certificate, der: [UInt8]) -> String? {
        guard hashAlgorithm.hash(der) == certificateHash else {
            return "the \(hashAlgorithm.rawValue) hash it states is not the hash of the certificate that signed it"
        }
        if let issuerSerial {
            let issuer = try? SignedDataMessage.derOf { try $0.serialize(certificate.issuer) }
            guard issuer == issuerSerial.issuer, Array(certificate.serialNumber.bytes) == issuerSerial.serial else {
                return "the issuer and serial it states are not those of the certificate that signed it"
            }
        }
        return nil
    }
}
