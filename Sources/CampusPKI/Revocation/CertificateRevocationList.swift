import Foundation
import SwiftASN1
import X509

/// A certificate revocation list (RFC 5280 section 5): version 2, signed by CUHK's root with
/// sha256WithRSAEncryption, with the cRLNumber and AuthorityKeyIdentifier extensions, and a reasonCode on each entry
/// that has a reason.
///
/// CUHK publishes one at `GET /crl` on its OCSP port (``signed(_:number:thisUpdate:nextUpdate:signer:keyIdentifier:)``);
/// Blackboard fetches it every few seconds and reads it with ``init(derEncoded:)`` and ``isSigned(by:)``, so that a
/// revocation reaches it within seconds and ends the sessions of that certificate.
public struct CertificateRevocationList: Sendable, Hashable {
    /// One revoked certificate.
    public struct Entry: Sendable, Hashable {
        /// The certificate's serial number: the bytes of its DER INTEGER, lower-case hex, as `Certificate.SerialNumber`
        /// and CUHK's registry write it.
        public var serial: String
        /// When it was revoked (whole seconds).
        public var revocationDate: Date
        /// The RFC 5280 `CRLReason`; `nil` for unspecified (RFC 5280 asks that no reasonCode be written then).
        public var reasonCode: Int?

        public init(serial: String, revocationDate: Date, reasonCode: Int?) {
            self.serial = serial.lowercased()
            self.revocationDate = Date(timeIntervalSince1970: revocationDate.timeIntervalSince1970.rounded(.down))
            self.reasonCode = reasonCode
        }
    }

    public var issuer: DistinguishedName
    public var thisUpdate: Date
    public var nextUpdate: Date?
    /// The cRLNumber: a later list has a larger number.
    public var number: UInt64?
    /// The keyIdentifier of the AuthorityKeyIdentifier extension: the signing key's.
    public var authorityKeyIdentifier: [UInt8]?
    public var entries: [Entry]
    /// The signed `TBSCertList`, the signature algorithm's identifier and the signature.
    public var signedBytes: [UInt8]
    public var signatureAlgorithmOID: ASN1ObjectIdentifier?
    public var signature: [UInt8]

    static let cRLNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]
    static let reasonCodeOID: ASN1ObjectIdentifier = [2, 5, 29, 21]
    static let authorityKeyIdentifierOID: ASN1ObjectIdentifier = [2, 5, 29, 35]

    /// The RFC 5280 name of a `CRLReason` code, for logs and dashboards.
    public static func reasonName(_ code: Int?) -> String {
        switch code {
        case nil, 0: "unspecified"
        case 1: "keyCompromise"
        case 2: "cACompromise"
        case 3: "affiliationChanged"
        case 4: "superseded"
        case 5: "cessationOfOperation"
        case 6: "certificateHold"
        case 8: "removeFromCRL"
        case 9: "privilegeWithdrawn"
        case 10: "aACompromise"
        case let code?: "reason \(code)"
        }
    }

    /// A signed list, DER.
    ///
    /// - Parameters:
    ///   - entries: The revoked certificates.
    ///   - number: The cRLNumber; larger than any list signed before.
    ///   - thisUpdate: When the list was made.
    ///   - nextUpdate: When the next list will be there at the latest.
    ///   - signer: The root's certificate and private key.
    ///   - keyIdentifier: The root key's identifier, for the AuthorityKeyIdentifier extension.
    /// - Throws: When the key cannot sign, or a serial is not hex.
    public static func signed(
        _ entries: [Entry], number: UInt64, thisUpdate: Date, nextUpdate: Date,
        signer: (certificate: Certificate, privateKey: Certificate.PrivateKey), keyIdentifier: [UInt8]
    ) throws -> [UInt8] {
        var tbs = DER.Serializer()
        try tbs.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(1)  // v2
            try serializeAlgorithm(into: &coder)
            try coder.serialize(signer.certificate.subject)
            try serializeTime(thisUpdate, into: &coder)
            try serializeTime(nextUpdate, into: &coder)
            if !entries.isEmpty {
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    for entry in entries {
                        try coder.appendConstructedNode(identifier: .sequence) { coder in
                            guard let serial = ReceiptDocument.bytes(hex: entry.serial), !serial.isEmpty else {
                                throw ASN1Error.invalidASN1Object(reason: "the serial \(entry.serial) is not hex")
                            }
                            try coder.serialize(ArraySlice(serial))
                            try serializeTime(entry.revocationDate, into: &coder)
                            if let code = entry.reasonCode, code != 0 {
                                try coder.appendConstructedNode(identifier: .sequence) { coder in
                                    var value = DER.Serializer()
                                    try code.serialize(into: &value, withIdentifier: .enumerated)
                                    try coder.serialize(
                                        Certificate.Extension(
                                            oid: reasonCodeOID, critical: false, value: value.serializedBytes[...]))
                                }
                            }
                        }
                    }
                }
            }
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(
                        Certificate.Extension(
                            AuthorityKeyIdentifier(keyIdentifier: keyIdentifier[...]), critical: false))
                    var value = DER.Serializer()
                    try value.serialize(number)
                    try coder.serialize(
                        Certificate.Extension(oid: cRLNumberOID, critical: false, value: value.serializedBytes[...]))
                }
            }
        }
        let signature = try signer.privateKey.sign(
            bytes: tbs.serializedBytes, signatureAlgorithm: .sha256WithRSAEncryption)
        var list = DER.Serializer()
        try list.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(tbs.serializedBytes)
            try serializeAlgorithm(into: &coder)
            try coder.serialize(ASN1BitString(bytes: signature.rawRepresentation[...]))
        }
        return list.serializedBytes
    }

    /// `sha256WithRSAEncryption` with NULL parameters, as RFC 4055 writes it.
    private static func serializeAlgorithm(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(OCSPResponseMessage.sha256WithRSAEncryption)
            try coder.serialize(ASN1Null())
        }
    }

    /// RFC 5280's `Time`: UTCTime through 2049, GeneralizedTime from 2050, whole seconds.
    private static func serializeTime(_ date: Date, into coder: inout DER.Serializer) throws {
        let time = try GeneralizedTime(date)
        if (1950...2049).contains(time.year) {
            try coder.serialize(
                try UTCTime(
                    year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                    seconds: time.seconds))
        } else {
            try coder.serialize(time)
        }
    }

    private static func time(from node: ASN1Node) throws -> Date {
        switch node.identifier {
        case .utcTime:
            let time = try UTCTime(derEncoded: node)
            return Date(
                try GeneralizedTime(
                    year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                    seconds: time.seconds, fractionalSeconds: 0))
        case .generalizedTime:
            return Date(try GeneralizedTime(derEncoded: node))
        default:
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
    }

    /// Reads a DER list. The signature is not checked here: ``isSigned(by:)`` does that.
    ///
    /// - Throws: `ASN1Error` when the bytes are not a version-2 CRL.
    public init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        let (tbs, algorithm, signature) = try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next(), let algorithmNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "short CertificateList")
            }
            let algorithm = try DER.sequence(algorithmNode, identifier: .sequence) { algorithm in
                let oid = try ASN1ObjectIdentifier(derEncoded: &algorithm)
                _ = algorithm.next()
                return oid
            }
            let signature = Array(try ASN1BitString(derEncoded: &nodes).bytes)
            return (tbs, algorithm, signature)
        }
        var issuer: DistinguishedName?
        var thisUpdate = Date.distantPast
        var nextUpdate: Date?
        var entries: [Entry] = []
        var number: UInt64?
        var keyIdentifier: [UInt8]?
        try DER.sequence(tbs, identifier: .sequence) { fields in
            guard let versionNode = fields.next(), let version = try? Int(derEncoded: versionNode), version == 1 else {
                throw ASN1Error.invalidASN1Object(reason: "not a version 2 CRL")
            }
            _ = fields.next()  // the signature algorithm, repeated
            guard let issuerNode = fields.next(), let thisUpdateNode = fields.next() else {
                throw ASN1Error.invalidASN1Object(reason: "short TBSCertList")
            }
            issuer = try DistinguishedName(derEncoded: issuerNode)
            thisUpdate = try Self.time(from: thisUpdateNode)
            var next = fields.next()
            if let node = next, node.identifier == .utcTime || node.identifier == .generalizedTime {
                nextUpdate = try Self.time(from: node)
                next = fields.next()
            }
            if let node = next, node.identifier == .sequence {
                entries = try DER.sequence(of: Entry.self, identifier: .sequence, rootNode: node)
                next = fields.next()
            }
            if let node = next, node.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
                let extensions = try DER.explicitlyTagged(node, tagNumber: 0, tagClass: .contextSpecific) { node in
                    try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: node)
                }
                for ext in extensions {
                    switch ext.oid {
                    case Self.cRLNumberOID:
                        number = try UInt64(derEncoded: try DER.parse(Array(ext.value)))
                    case Self.authorityKeyIdentifierOID:
                        keyIdentifier = try AuthorityKeyIdentifier(ext).keyIdentifier.map(Array.init)
                    default:
                        if ext.critical {
                            throw ASN1Error.invalidASN1Object(reason: "a critical CRL extension that is not understood")
                        }
                    }
                }
            }
        }
        guard let issuer else { throw ASN1Error.invalidASN1Object(reason: "no issuer") }
        self.issuer = issuer
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.number = number
        self.authorityKeyIdentifier = keyIdentifier
        self.entries = entries
        self.signedBytes = Array(tbs.encodedBytes)
        self.signatureAlgorithmOID = algorithm
        self.signature = signature
    }

    /// Whether `issuer` signed the list, with sha256WithRSAEncryption, and the list names it as its issuer.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard signatureAlgorithmOID == OCSPResponseMessage.sha256WithRSAEncryption, self.issuer == issuer.subject
        else { return false }
        return issuer.publicKey.isValidSignature(
            signature, for: signedBytes, signatureAlgorithm: .sha256WithRSAEncryption)
    }
}

extension CertificateRevocationList.Entry: DERParseable {
    public init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { fields in
            guard let serialNode = fields.next(), let dateNode = fields.next() else {
                throw ASN1Error.invalidASN1Object(reason: "short revoked certificate entry")
            }
            let serial = try ArraySlice<UInt8>(derEncoded: serialNode)
            let date = try CertificateRevocationList.time(from: dateNode)
            var reasonCode: Int?
            if let extensionsNode = fields.next() {
                let extensions = try DER.sequence(
                    of: Certificate.Extension.self, identifier: .sequence, rootNode: extensionsNode)
                for ext in extensions where ext.oid == CertificateRevocationList.reasonCodeOID {
                    reasonCode = try Int(derEncoded: try DER.parse(Array(ext.value)), withIdentifier: .enumerated)
                }
            }
            return .init(serial: Array(serial).hexString, revocationDate: date, reasonCode: reasonCode)
        }
    }
}
