import SwiftASN1

/// An OCSP request (RFC 6960 section 4.1.1), reduced to what a responder needs: the certificates asked about.
///
/// The optional signature, the requestor's name and the extensions (a nonce) are read past: CampusPKI's
/// responder answers anyone and, as RFC 5019 allows, does not echo nonces, so that a response can be cached.
public struct OCSPRequestMessage: Sendable, Hashable {
    /// The certificates asked about, in order.
    public var certificateIDs: [OCSPCertificateID]

    public init(certificateIDs: [OCSPCertificateID]) {
        self.certificateIDs = certificateIDs
    }

    /// Reads a DER request.
    ///
    /// - Throws: `ASN1Error` when the bytes are not an OCSP request with at least one certificate.
    public init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        self = try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no tbsRequest") }
            _ = nodes.next()  // optionalSignature
            guard nodes.next() == nil else { throw ASN1Error.invalidASN1Object(reason: "trailing fields") }
            return try DER.sequence(tbs, identifier: .sequence) { fields in
                let version = try DER.decodeDefaultExplicitlyTagged(
                    &fields, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0
                ) { try Int(derEncoded: $0) }
                guard version == 0 else { throw ASN1Error.invalidASN1Object(reason: "version \(version)") }
                _ = try DER.optionalExplicitlyTagged(&fields, tagNumber: 1, tagClass: .contextSpecific) { $0 }
                guard let list = fields.next() else { throw ASN1Error.invalidASN1Object(reason: "no requestList") }
                let ids = try DER.sequence(list, identifier: .sequence) { requests in
                    var ids: [OCSPCertificateID] = []
                    while let request = requests.next() {
                        ids.append(
                            try DER.sequence(request, identifier: .sequence) { parts in
                                guard let certID = parts.next() else {
                                    throw ASN1Error.invalidASN1Object(reason: "empty Request")
                                }
                                _ = parts.next()  // singleRequestExtensions
                                return try OCSPCertificateID(derEncoded: certID)
                            })
                    }
                    return ids
                }
                _ = fields.next()  // requestExtensions
                guard !ids.isEmpty else { throw ASN1Error.invalidASN1Object(reason: "empty requestList") }
                return OCSPRequestMessage(certificateIDs: ids)
            }
        }
    }

    /// The DER encoding, with no signature and no extensions (tests and tools).
    public func derEncoded() -> [UInt8] {
        var serializer = DER.Serializer()
        serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.appendConstructedNode(identifier: .sequence) { coder in
                coder.appendConstructedNode(identifier: .sequence) { coder in
                    for id in certificateIDs {
                        coder.appendConstructedNode(identifier: .sequence) { coder in
                            coder.serializeRawBytes(id.derEncoded)
                        }
                    }
                }
            }
        }
        return serializer.serializedBytes
    }
}
