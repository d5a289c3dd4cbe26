import SwiftASN1

/// An `AlgorithmIdentifier` as read from DER: its object identifier and whether its parameters were a NULL.
///
/// Hash and ECDSA algorithm identifiers take no parameters; RFC 5754 lets a reader accept a NULL in their place,
/// and nothing else is accepted.
struct AlgorithmIdentifierValue: Sendable, Hashable {
    var oid: ASN1ObjectIdentifier
    var hasNullParameters: Bool

    init(oid: ASN1ObjectIdentifier, hasNullParameters: Bool = false) {
        self.oid = oid
        self.hasNullParameters = hasNullParameters
    }

    init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            guard let parameters = nodes.next() else { return AlgorithmIdentifierValue(oid: oid) }
            _ = try ASN1Null(derEncoded: parameters)
            return AlgorithmIdentifierValue(oid: oid, hasNullParameters: true)
        }
    }

    init(derEncoded nodes: inout ASN1NodeCollection.Iterator, what: String) throws {
        guard let node = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no \(what)") }
        try self.init(derEncoded: node)
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(oid)
            if hasNullParameters { try coder.serialize(ASN1Null()) }
        }
    }

    /// `ecdsa-with-SHA256` (RFC 5758), the only signature CampusPKI's timestamps and manifests carry.
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
}
