import Crypto
import Foundation
import SwiftASN1
import X509

/// A CMS SignedData (RFC 5652 section 5) with exactly one signer, as CampusPKI's timestamp tokens and deadline
/// manifests are: ECDSA P-256 with SHA-256, signed attributes always present, unsigned attributes when needed.
///
/// swift-certificates' CMS support (`@_spi(CMS)`) signs only `id-data` content with a fixed set of signed attributes
/// and has no unsigned attributes, and its verifier refuses SignedData of version 3, which RFC 5652 requires for
/// any other content type (a token's `id-ct-TSTInfo`). This type does what that support does not: any content
/// type, chosen signed attributes, unsigned attributes added after signing (a CAdES-T timestamp), and a strict DER
/// reader that keeps the bytes a signature covers.
///
/// ```
/// ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER (id-signedData), content [0] EXPLICIT SignedData }
/// SignedData ::= SEQUENCE { version, digestAlgorithms SET OF AlgorithmIdentifier,
///     encapContentInfo SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL },
///     certificates [0] IMPLICIT SET OF Certificate OPTIONAL, crls [1] IMPLICIT … OPTIONAL,
///     signerInfos SET OF SignerInfo }
/// SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT SET OF Attribute,
///     signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] IMPLICIT SET OF Attribute OPTIONAL }
/// ```
struct SignedDataMessage: Sendable, Hashable {
    /// One attribute: its type and the DER of each of its values.
    struct Attribute: Sendable, Hashable {
        var type: ASN1ObjectIdentifier
        var values: [[UInt8]]

        func derEncoded() throws -> [UInt8] {
            var serializer = DER.Serializer()
            try serializer.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(type)
                coder.appendConstructedNode(identifier: .set) { coder in
                    for value in SignedDataMessage.sortedForSet(values) { coder.serializeRawBytes(value) }
                }
            }
            return serializer.serializedBytes
        }

        init(type: ASN1ObjectIdentifier, values: [[UInt8]]) {
            self.type = type
            self.values = values
        }

        init(derEncoded node: ASN1Node) throws {
            self = try DER.sequence(node, identifier: .sequence) { nodes in
                let type = try ASN1ObjectIdentifier(derEncoded: &nodes)
                guard let set = nodes.next(), set.identifier == .set, case .constructed(let items) = set.content else {
                    throw ASN1Error.invalidASN1Object(reason: "attribute without a SET of values")
                }
                let values = items.map { Array($0.encodedBytes) }
                guard !values.isEmpty else { throw ASN1Error.invalidASN1Object(reason: "attribute without values") }
                return Attribute(type: type, values: values)
            }
        }
    }

    /// How the SignerInfo names its certificate.
    enum SignerIdentifier: Sendable, Hashable {
        /// The DER of the issuer's Name and the serial (big-endian, no leading zeros, as X509 keeps it).
        case issuerAndSerialNumber(issuer: [UInt8], serial: [UInt8])
        case subjectKeyIdentifier([UInt8])
    }

    /// A certificate carried in the SignedData, with the DER it came as.
    struct CarriedCertificate: Sendable, Hashable {
        var der: [UInt8]
        var certificate: Certificate
    }

    var version: Int
    var digestAlgorithms: [AlgorithmIdentifierValue]
    var contentType: ASN1ObjectIdentifier
    /// The eContent's octets; `nil` for a detached signature.
    var content: [UInt8]?
    var certificates: [CarriedCertificate]
    var signerVersion: Int
    var signerIdentifier: SignerIdentifier
    var digestAlgorithm: AlgorithmIdentifierValue
    var signedAttributes: [Attribute]
    /// The signed attributes' DER as a SET (tag 0x31): the bytes the signature covers.
    var signedAttributesDER: [UInt8]
    var signatureAlgorithm: AlgorithmIdentifierValue
    /// The signature value (the OCTET STRING's content): a DER ECDSA-Sig-Value.
    var signature: [UInt8]
    var unsignedAttributes: [Attribute]

    // MARK: Object identifiers

    static let signedDataType: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 2]
    static let dataType: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 1]
    static let contentTypeAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 3]
    static let messageDigestAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 4]
    static let signingTimeAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 5]

    // MARK: Making

    /// Signs `content` with `privateKey` (ECDSA P-256, SHA-256): signed attributes content-type, message-digest,
    /// signing-time when given, and `extraSignedAttributes`, in DER order.
    ///
    /// - Throws: When the key is not the certificate's, or an attribute cannot be encoded.
    static func sign(
        content: [UInt8], contentType: ASN1ObjectIdentifier, extraSignedAttributes: [Attribute] = [],
        signingTime: Date? = nil, certificate: Certificate, privateKey: P256.Signing.PrivateKey,
        includeCertificate: Bool
    ) throws -> SignedDataMessage {
        guard certificate.publicKey == Certificate.PublicKey(privateKey.publicKey) else {
            throw TimestampError.badSignature("the private key does not belong to the signing certificate")
        }
        var attributes = [
            Attribute(type: contentTypeAttribute, values: [try derOf { try $0.serialize(contentType) }]),
            Attribute(
                type: messageDigestAttribute,
                values: [
                    try derOf {
                        try $0.serialize(ASN1OctetString(contentBytes: Array(SHA256.hash(data: content))[...]))
                    }
                ]),
        ]
        if let signingTime {
            attributes.append(Attribute(type: signingTimeAttribute, values: [try encodeTime(signingTime)]))
        }
        attributes += extraSignedAttributes
        let signedAttributesDER = try setDER(of: attributes)
        let signature = try privateKey.signature(for: signedAttributesDER).derRepresentation
        let certificateDER = try derOf { try $0.serialize(certificate) }
        return SignedDataMessage(
            version: contentType == dataType ? 1 : 3,
            digestAlgorithms: [AlgorithmIdentifierValue(oid: TimestampHashAlgorithm.sha256.oid)],
            contentType: contentType,
            content: content,
            certificates: includeCertificate ? [CarriedCertificate(der: certificateDER, certificate: certificate)] : [],
            signerVersion: 1,
            signerIdentifier: .issuerAndSerialNumber(
                issuer: try derOf { try $0.serialize(certificate.issuer) },
                serial: Array(certificate.serialNumber.bytes)),
            digestAlgorithm: AlgorithmIdentifierValue(oid: TimestampHashAlgorithm.sha256.oid),
            signedAttributes: attributes,
            signedAttributesDER: signedAttributesDER,
            signatureAlgorithm: AlgorithmIdentifierValue(oid: AlgorithmIdentifierValue.ecdsaWithSHA256),
            signature: Array(signature),
            unsignedAttributes: [])
    }

    /// The DER ContentInfo.
    func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(Self.signedDataType)
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(version)
                    try coder.appendConstructedNode(identifier: .set) { coder in
                        for algorithm in digestAlgorithms { try algorithm.serialize(into: &coder) }
                    }
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(contentType)
                        if let content {
                            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                                try coder.serialize(ASN1OctetString(contentBytes: content[...]))
                            }
                        }
                    }
                    if !certificates.isEmpty {
                        coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) {
                            coder in
                            for der in Self.sortedForSet(certificates.map(\.der)) { coder.serializeRawBytes(der) }
                        }
                    }
                    try coder.appendConstructedNode(identifier: .set) { coder in
                        try serializeSignerInfo(into: &coder)
                    }
                }
            }
        }
        return serializer.serializedBytes
    }

    private func serializeSignerInfo(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(signerVersion)
            switch signerIdentifier {
            case .issuerAndSerialNumber(let issuer, let serial):
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    coder.serializeRawBytes(issuer)
                    try coder.serialize(serial[...])
                }
            case .subjectKeyIdentifier(let identifier):
                coder.appendPrimitiveNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) {
                    $0.append(contentsOf: identifier)
                }
            }
            try digestAlgorithm.serialize(into: &coder)
            // [0] IMPLICIT: the SET's bytes with the tag byte 0x31 replaced by 0xa0.
            coder.serializeRawBytes([0xA0] + signedAttributesDER.dropFirst())
            try signatureAlgorithm.serialize(into: &coder)
            try coder.serialize(ASN1OctetString(contentBytes: signature[...]))
            if !unsignedAttributes.isEmpty {
                coder.serializeRawBytes([0xA1] + (try Self.setDER(of: unsignedAttributes)).dropFirst())
            }
        }
    }

}

extension SignedDataMessage {
    // MARK: Reading

    /// Reads a DER ContentInfo holding a SignedData with one signer.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` naming the first thing that is not as expected.
    init(derEncoded bytes: [UInt8], maximumSize: Int, what: String) throws(TimestampError) {
        guard bytes.count <= maximumSize else {
            throw .malformed("the \(what) has \(bytes.count) bytes, more than the \(maximumSize) accepted")
        }
        do {
            self = try Self.parse(bytes, what: what)
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the \(what) is not a DER CMS SignedData")
        }
    }

    private static func parse(_ bytes: [UInt8], what: String) throws -> SignedDataMessage {
        let root = try DER.parse(bytes)
        return try DER.sequence(root, identifier: .sequence) { nodes in
            guard try ASN1ObjectIdentifier(derEncoded: &nodes) == signedDataType else {
                throw TimestampError.malformed("the \(what) is a CMS ContentInfo, but not SignedData")
            }
            return try DER.explicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { fields in
                    try parseSignedData(&fields, what: what)
                }
            }
        }
    }

    private static func parseSignedData(
        _ fields: inout ASN1NodeCollection.Iterator, what: String
    ) throws -> SignedDataMessage {
        let version = try Int(derEncoded: &fields)
        guard let digestSet = fields.next() else { throw TimestampError.malformed("no digestAlgorithms") }
        let digestAlgorithms = try DER.set(digestSet, identifier: .set) { items in
            var algorithms: [AlgorithmIdentifierValue] = []
            while let item = items.next() { algorithms.append(try AlgorithmIdentifierValue(derEncoded: item)) }
            return algorithms
        }
        guard let encapsulated = fields.next() else { throw TimestampError.malformed("no encapContentInfo") }
        let (contentType, content) = try DER.sequence(encapsulated, identifier: .sequence) { parts in
            let type = try ASN1ObjectIdentifier(derEncoded: &parts)
            let content = try DER.optionalExplicitlyTagged(&parts, tagNumber: 0, tagClass: .contextSpecific) {
                Array(try ASN1OctetString(derEncoded: $0).bytes)
            }
            return (type, content)
        }
        var certificates: [CarriedCertificate] = []
        if let node = fields.peek(), node.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            _ = fields.next()
            guard case .constructed(let items) = node.content else {
                throw TimestampError.malformed("the \(what)'s certificates field is not a SET")
            }
            for item in items {
                guard item.identifier == .sequence else {
                    throw TimestampError.malformed("the \(what) carries a certificate that is not an X.509 certificate")
                }
                do {
                    certificates.append(
                        CarriedCertificate(
                            der: Array(item.encodedBytes), certificate: try Certificate(derEncoded: item)))
                } catch {
                    throw TimestampError.malformed("a certificate in the \(what) cannot be read")
                }
            }
        }
        if let node = fields.peek(), node.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) {
            throw TimestampError.malformed("the \(what) carries revocation lists; none are expected")
        }
        guard let signerSet = fields.next() else { throw TimestampError.malformed("no signerInfos") }
        return try DER.set(signerSet, identifier: .set) { signers in
            guard let signerNode = signers.next() else {
                throw TimestampError.malformed("the \(what) has no signer")
            }
            guard signers.next() == nil else {
                throw TimestampError.malformed("the \(what) has more than one signer")
            }
            var message = try DER.sequence(signerNode, identifier: .sequence) { parts in
                try parseSignerInfo(&parts, what: what)
            }
            message.version = version
            message.digestAlgorithms = digestAlgorithms
            message.contentType = contentType
            message.content = content
            message.certificates = certificates
            // RFC 5652 section 5.1: version 1 only for id-data signed by issuer and serial number; 3 otherwise
            // (CampusPKI has no attribute certificates, which would call for 4 or 5).
            let expected = contentType == dataType && message.signerVersion == 1 ? 1 : 3
            guard version == expected else {
                throw TimestampError.malformed("the \(what)'s SignedData version is \(version), not \(expected)")
            }
            guard digestAlgorithms.contains(where: { $0.oid == message.digestAlgorithm.oid }) else {
                throw TimestampError.malformed("the signer's digest algorithm is not among the SignedData's")
            }
            return message
        }
    }

    private static func parseSignerInfo(
        _ parts: inout ASN1NodeCollection.Iterator, what: String
    ) throws -> SignedDataMessage {
        let signerVersion = try Int(derEncoded: &parts)
        guard let identifierNode = parts.next() else { throw TimestampError.malformed("no signer identifier") }
        let identifier: SignerIdentifier
        switch identifierNode.identifier {
        case .sequence:
            guard signerVersion == 1 else {
                throw TimestampError.malformed("a signer named by issuer and serial number must be version 1")
            }
            identifier = try DER.sequence(identifierNode, identifier: .sequence) { names in
                guard let issuer = names.next(), issuer.identifier == .sequence else {
                    throw TimestampError.malformed("the signer's issuer is not a Name")
                }
                let serial = try ArraySlice<UInt8>(derEncoded: &names)
                return .issuerAndSerialNumber(issuer: Array(issuer.encodedBytes), serial: Array(serial))
            }
        case ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific):
            guard signerVersion == 3 else {
                throw TimestampError.malformed("a signer named by key identifier must be version 3")
            }
            let key = try ASN1OctetString(derEncoded: identifierNode, withIdentifier: identifierNode.identifier)
            identifier = .subjectKeyIdentifier(Array(key.bytes))
        default:
            throw TimestampError.malformed("the signer identifier is neither issuer and serial nor a key identifier")
        }
        let digestAlgorithm = try AlgorithmIdentifierValue(derEncoded: &parts, what: "digest algorithm")
        guard let signedNode = parts.next(),
            signedNode.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
        else {
            throw TimestampError.malformed("the \(what)'s signer has no signed attributes")
        }
        let (signedAttributes, signedDER) = try readAttributes(signedNode, what: "signed")
        let signatureAlgorithm = try AlgorithmIdentifierValue(derEncoded: &parts, what: "signature algorithm")
        let signature = Array(try ASN1OctetString(derEncoded: &parts).bytes)
        var unsignedAttributes: [Attribute] = []
        if let node = parts.next() {
            guard node.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) else {
                throw TimestampError.malformed("the signer has an unexpected field after its signature")
            }
            unsignedAttributes = try readAttributes(node, what: "unsigned").0
        }
        return SignedDataMessage(
            version: 0, digestAlgorithms: [], contentType: dataType, content: nil, certificates: [],
            signerVersion: signerVersion, signerIdentifier: identifier, digestAlgorithm: digestAlgorithm,
            signedAttributes: signedAttributes, signedAttributesDER: signedDER, signatureAlgorithm: signatureAlgorithm,
            signature: signature, unsignedAttributes: unsignedAttributes)
    }

    /// The attributes of a `[0]` or `[1]` node, and the node's bytes as a DER SET.
    ///
    /// - Throws: When there are none, an attribute type appears twice (RFC 5652 section 5.3), or they are not in
    ///   DER order (then they are not the DER a signature must cover).
    private static func readAttributes(_ node: ASN1Node, what: String) throws -> ([Attribute], [UInt8]) {
        guard case .constructed(let items) = node.content else {
            throw TimestampError.malformed("the \(what) attributes are not a SET")
        }
        let encodings = items.map { Array($0.encodedBytes) }
        let attributes = try items.map { try Attribute(derEncoded: $0) }
        guard !attributes.isEmpty else { throw TimestampError.malformed("the \(what) attributes are empty") }
        guard Set(attributes.map(\.type)).count == attributes.count else {
            throw TimestampError.malformed("an attribute type appears twice among the \(what) attributes")
        }
        guard sortedForSet(encodings) == encodings else {
            throw TimestampError.malformed("the \(what) attributes are not in DER order")
        }
        return (attributes, [0x31] + Array(node.encodedBytes.dropFirst()))
    }

    // MARK: Checking

    /// The one attribute of `type` among the signed attributes, with its one value; `nil` when absent.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` when it has more than one value.
    func signedValue(_ type: ASN1ObjectIdentifier, name: String) throws(TimestampError) -> ASN1Node? {
        try Self.value(of: type, in: signedAttributes, name: name)
    }

    /// The one unsigned attribute of `type`, with its one value; `nil` when absent.
    func unsignedValue(_ type: ASN1ObjectIdentifier, name: String) throws(TimestampError) -> ASN1Node? {
        try Self.value(of: type, in: unsignedAttributes, name: name)
    }

    private static func value(
        of type: ASN1ObjectIdentifier, in attributes: [Attribute], name: String
    ) throws(TimestampError) -> ASN1Node? {
        guard let attribute = attributes.first(where: { $0.type == type }) else { return nil }
        guard attribute.values.count == 1 else { throw .malformed("the \(name) attribute has more than one value") }
        do {
            return try DER.parse(attribute.values[0])
        } catch {
            throw .malformed("the \(name) attribute's value cannot be read")
        }
    }

    /// The certificate the signer identifier names, among the carried ones and `others`.
    func signerCertificate(among others: [Certificate] = []) -> Certificate? {
        let candidates = certificates.map(\.certificate) + others
        return candidates.first { certificate in
            switch signerIdentifier {
            case .issuerAndSerialNumber(let issuer, let serial):
                return (try? Self.derOf { try $0.serialize(certificate.issuer) }) == issuer
                    && Array(certificate.serialNumber.bytes) == serial
            case .subjectKeyIdentifier(let identifier):
                return (try? certificate.extensions.subjectKeyIdentifier).flatMap { $0 }.map {
                    Array($0.keyIdentifier) == identifier
                } == true
            }
        }
    }

    /// Checks the signature: ECDSA P-256 with SHA-256 by `certificate`'s key over the signed attributes, which
    /// state the content type and the SHA-256 of the content.
    ///
    /// - Throws: ``TimestampError/unsupportedAlgorithm(_:)`` or ``TimestampError/badSignature(_:)``.
    func checkSignature(by certificate: Certificate, expectedContentType: ASN1ObjectIdentifier) throws(TimestampError) {
        guard digestAlgorithm.oid == TimestampHashAlgorithm.sha256.oid,
            signatureAlgorithm.oid == AlgorithmIdentifierValue.ecdsaWithSHA256, !signatureAlgorithm.hasNullParameters
        else {
            throw .unsupportedAlgorithm(
                "it is signed with \(signatureAlgorithm.oid) over \(digestAlgorithm.oid); CampusPKI signatures are "
                    + "ECDSA P-256 with SHA-256 (1.2.840.10045.4.3.2 over 2.16.840.1.101.3.4.2.1)")
        }
        guard let key = P256.Signing.PublicKey(certificate.publicKey) else {
            throw .unsupportedAlgorithm("the signer's certificate does not hold an ECDSA P-256 key")
        }
        guard let typeNode = try signedValue(Self.contentTypeAttribute, name: "content-type"),
            (try? ASN1ObjectIdentifier(derEncoded: typeNode)) == expectedContentType, contentType == expectedContentType
        else {
            throw .badSignature("the content-type attribute is missing or is not \(expectedContentType)")
        }
        guard let digestNode = try signedValue(Self.messageDigestAttribute, name: "message-digest"),
            let digest = try? ASN1OctetString(derEncoded: digestNode)
        else {
            throw .badSignature("the message-digest attribute is missing")
        }
        guard let content else { throw .badSignature("the signed content is not attached") }
        guard Array(digest.bytes) == Array(SHA256.hash(data: content)) else {
            throw .badSignature("the content is not the content that was signed (its SHA-256 differs)")
        }
        guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: signature),
            key.isValidSignature(signature, for: signedAttributesDER)
        else {
            throw .badSignature(
                "the signature is not valid: the signed attributes were changed after signing, or were not signed "
                    + "with the key of the signer's certificate")
        }
    }

    /// The signing-time attribute, if any.
    func signingTime() throws(TimestampError) -> Date? {
        guard let node = try signedValue(Self.signingTimeAttribute, name: "signing-time") else { return nil }
        if let time = try? UTCTime(derEncoded: node) {
            return TimestampTime.date(
                try! GeneralizedTime(
                    year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                    seconds: time.seconds, fractionalSeconds: 0))
        }
        if let time = try? GeneralizedTime(derEncoded: node) { return TimestampTime.date(time) }
        throw .malformed("the signing-time attribute is neither a UTCTime nor a GeneralizedTime")
    }

    // MARK: DER helpers

    /// A signing time as RFC 5652 section 11.3 wants it: UTCTime for 1950–2049, GeneralizedTime otherwise.
    static func encodeTime(_ date: Date) throws -> [UInt8] {
        let time = try TimestampTime.generalizedTime(
            Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
        if (1950...2049).contains(time.year) {
            return try derOf {
                try $0.serialize(
                    try UTCTime(
                        year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                        seconds: time.seconds))
            }
        }
        return try derOf { try $0.serialize(time) }
    }

    /// The DER of a SET OF `attributes` (tag 0x31), in DER order.
    static func setDER(of attributes: [Attribute]) throws -> [UInt8] {
        let encodings = try attributes.map { try $0.derEncoded() }
        var serializer = DER.Serializer()
        serializer.appendConstructedNode(identifier: .set) { coder in
            for encoding in sortedForSet(encodings) { coder.serializeRawBytes(encoding) }
        }
        return serializer.serializedBytes
    }

    /// X.690 section 11.6: the elements of a SET OF in ascending order of their encodings, the shorter padded with
    /// zero bytes at the end.
    static func sortedForSet(_ encodings: [[UInt8]]) -> [[UInt8]] {
        encodings.sorted { left, right in
            for index in 0..<max(left.count, right.count) {
                let a = index < left.count ? left[index] : 0
                let b = index < right.count ? right[index] : 0
                if a != b { return a < b }
            }
            return false
        }
    }

    /// The DER of whatever `body` writes.
    static func derOf(_ body: (inout DER.Serializer) throws -> Void) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try body(&serializer)
        return serializer.serializedBytes
    }
}
