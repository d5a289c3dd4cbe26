import SwiftASN1

/// The CMS encoding of a signed receipt, exactly as docs/PROTOCOL.md section 5.8 fixes it, read from DER.
///
/// A receipt is checked against this profile before its signature: a receipt that is not what Blackboard writes is
/// refused with a sentence that names the difference, and the signature check that follows meets only what it was
/// meant for. Most important among the rules: the signature must cover signed attributes (content type, message
/// digest, signing time), so that the signing time cannot be changed without breaking it.
struct ReceiptProfile {
    /// The receipt document: the encapsulated content.
    var content: [UInt8]
    /// The DER of the signed attributes as the signature covers them: the SET OF, tagged `0x31`.
    var signedAttributes: [UInt8]

    static let signedData: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 2]
    static let data: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 1]
    static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let contentType: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 3]
    static let messageDigest: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 4]
    static let signingTime: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 5]

    /// A deviation from the profile, in words.
    struct Deviation: Error {
        var reason: String
        /// Whether the bytes are not a signed receipt at all (rather than one signed otherwise than Blackboard does).
        var notCMS: Bool
    }

    /// Reads and checks a receipt's DER.
    ///
    /// - Throws: ``ReceiptError/notCMS(_:)`` when the bytes are not a CMS SignedData with attached content, and
    ///   ``ReceiptError/badSignature(_:)`` for a SignedData that is not signed the way receipts are.
    static func read(_ der: [UInt8]) throws(ReceiptError) -> ReceiptProfile {
        do {
            return try parse(der)
        } catch let deviation as Deviation {
            throw deviation.notCMS ? .notCMS(deviation.reason) : .badSignature(deviation.reason)
        } catch {
            throw .notCMS("its bytes are not CMS SignedData in DER (it may be cut short, or another kind of file)")
        }
    }

    private static func structure(_ reason: String) -> Deviation { Deviation(reason: reason, notCMS: true) }
    private static func signing(_ reason: String) -> Deviation { Deviation(reason: reason, notCMS: false) }

    private static func parse(_ der: [UInt8]) throws -> ReceiptProfile {
        let root = try DER.parse(der)
        return try DER.sequence(root, identifier: .sequence) { nodes in
            guard try ASN1ObjectIdentifier(derEncoded: &nodes) == signedData else {
                throw structure("it is CMS, but not SignedData")
            }
            let profile = try DER.explicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { try signedDataFields(&$0) }
            }
            guard nodes.next() == nil else { throw structure("it has fields after its SignedData") }
            return profile
        }
    }

    private static func signedDataFields(_ nodes: inout ASN1NodeCollection.Iterator) throws -> ReceiptProfile {
        guard try Int(derEncoded: &nodes) == 1 else {
            throw signing("its SignedData is not version 1, as receipts are")
        }
        guard let digestAlgorithms = nodes.next() else { throw structure("its SignedData has no digest algorithms") }
        let digests = try DER.set(digestAlgorithms, identifier: .set) { set in
            var found: [ASN1Node] = []
            while let node = set.next() { found.append(node) }
            return found
        }
        guard digests.count == 1, try isAlgorithm(digests[0], sha256) else {
            throw signing("its digest algorithms are not exactly SHA-256")
        }
        guard let encapsulated = nodes.next() else { throw structure("its SignedData has no content") }
        let content = try DER.sequence(encapsulated, identifier: .sequence) { fields -> [UInt8] in
            guard try ASN1ObjectIdentifier(derEncoded: &fields) == data else {
                throw structure("its content is not of type data (id-data)")
            }
            guard
                let content = try DER.optionalExplicitlyTagged(
                    &fields, tagNumber: 0, tagClass: .contextSpecific,
                    {
                        Array(try ASN1OctetString(derEncoded: $0).bytes)
                    })
            else {
                throw structure("the signed data does not contain the receipt text (it is a detached signature)")
            }
            return content
        }
        let certificates = DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
            node -> Int in
            guard case .constructed(let children) = node.content else { return 0 }
            return children.reduce(0) { count, _ in count + 1 }
        }
        guard certificates == 1 else {
            throw signing(
                "it carries \(certificates ?? 0) certificates; a receipt carries exactly one, Blackboard's")
        }
        if DER.optionalImplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific, { _ in true }) != nil {
            throw signing("it carries revocation lists, which receipts do not")
        }
        guard let signerInfos = nodes.next(), nodes.next() == nil else {
            throw structure("its SignedData does not end with its signer information")
        }
        let signers = try DER.set(signerInfos, identifier: .set) { set in
            var found: [ASN1Node] = []
            while let node = set.next() { found.append(node) }
            return found
        }
        guard signers.count == 1 else {
            throw signing("it has \(signers.count) signatures; a receipt has exactly one, Blackboard's")
        }
        let signedAttributes = try DER.sequence(signers[0], identifier: .sequence) { try signerInfoFields(&$0) }
        return ReceiptProfile(content: content, signedAttributes: signedAttributes)
    }

    /// Checks one SignerInfo and returns its signed attributes as the signature covers them.
    private static func signerInfoFields(_ fields: inout ASN1NodeCollection.Iterator) throws -> [UInt8] {
        guard try Int(derEncoded: &fields) == 1, let signerID = fields.next(), signerID.identifier == .sequence else {
            throw signing(
                "its signer is not named by issuer and serial number (a version 1 SignerInfo), as in receipts")
        }
        guard let digest = fields.next(), try isAlgorithm(digest, sha256) else {
            throw signing("its signer's digest algorithm is not SHA-256")
        }
        guard
            let attributes = DER.optionalImplicitlyTagged(&fields, tagNumber: 0, tagClass: .contextSpecific, { $0 })
        else {
            throw signing(
                "its signature covers no signed attributes, so nothing ties a signing time to it; Blackboard signs "
                    + "the content type, the message digest and the signing time")
        }
        try checkAttributes(attributes)
        guard let algorithm = fields.next(), try isAlgorithm(algorithm, ecdsaWithSHA256) else {
            throw signing("it is not signed with ECDSA and SHA-256 (ecdsa-with-SHA256), as receipts are")
        }
        guard let signature = fields.next(), signature.identifier == .octetString else {
            throw structure("its signer information has no signature")
        }
        guard fields.next() == nil else { throw signing("its signer has unsigned attributes, which receipts do not") }
        // RFC 5652 section 5.4: the signature is over the attributes' DER with the SET OF tag, not the [0] tag.
        var covered = Array(attributes.encodedBytes)
        covered[0] = 0x31
        return covered
    }

    /// Exactly content type (id-data), signing time and message digest (32 bytes), one value each, in DER order.
    private static func checkAttributes(_ node: ASN1Node) throws {
        guard case .constructed(let children) = node.content else {
            throw signing("its signed attributes cannot be read")
        }
        var seen: [ASN1ObjectIdentifier] = []
        var previous: ArraySlice<UInt8>?
        for attribute in children {
            if let previous, !previous.lexicographicallyPrecedes(attribute.encodedBytes) {
                throw signing("its signed attributes are not in DER order")
            }
            previous = attribute.encodedBytes
            let (type, values) = try DER.sequence(attribute, identifier: .sequence) { parts in
                let type = try ASN1ObjectIdentifier(derEncoded: &parts)
                guard let set = parts.next(), parts.next() == nil else {
                    throw signing("a signed attribute cannot be read")
                }
                let values = try DER.set(set, identifier: .set) { items in
                    var found: [ASN1Node] = []
                    while let item = items.next() { found.append(item) }
                    return found
                }
                return (type, values)
            }
            guard values.count == 1 else { throw signing("a signed attribute has \(values.count) values, not one") }
            switch type {
            case contentType:
                guard values[0].identifier == .objectIdentifier,
                    try ASN1ObjectIdentifier(derEncoded: values[0]) == data
                else { throw signing("its signed content type is not data (id-data)") }
            case messageDigest:
                guard values[0].identifier == .octetString,
                    try ASN1OctetString(derEncoded: values[0]).bytes.count == 32
                else { throw signing("its signed message digest is not a SHA-256 digest") }
            case signingTime:
                guard values[0].identifier == .utcTime || values[0].identifier == .generalizedTime else {
                    throw signing("its signed signing time is not a time")
                }
            default:
                throw signing("it has a signed attribute receipts do not have (\(type))")
            }
            guard !seen.contains(type) else { throw signing("a signed attribute appears twice") }
            seen.append(type)
        }
        for (type, name) in [
            (contentType, "content type"), (messageDigest, "message digest"), (signingTime, "signing time"),
        ]
        where !seen.contains(type) {
            throw signing("its signed attributes lack the \(name)")
        }
    }

    /// Whether an AlgorithmIdentifier is `oid` with no parameters.
    private static func isAlgorithm(_ node: ASN1Node, _ oid: ASN1ObjectIdentifier) throws -> Bool {
        try DER.sequence(node, identifier: .sequence) { parts in
            let named = try ASN1ObjectIdentifier(derEncoded: &parts) == oid
            var parameters = 0
            while parts.next() != nil { parameters += 1 }  // read them all: a SEQUENCE must be read to its end
            return named && parameters == 0
        }
    }
}
