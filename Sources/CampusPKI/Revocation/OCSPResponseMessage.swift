import Foundation
import SwiftASN1
import X509

/// An OCSP response (RFC 6960 section 4.2.1): a status and, when successful, a signed `BasicOCSPResponse`.
///
/// CUHK's responder makes these with ``signed(_:producedAt:signer:)`` and ``unsuccessful(_:)``; Blackboard's cache
/// and the tests read them with ``init(derEncoded:)``.
public struct OCSPResponseMessage: Sendable, Hashable {
    /// `OCSPResponseStatus`.
    public enum Status: Int, Sendable, Hashable {
        case successful = 0
        case malformedRequest = 1
        case internalError = 2
        case tryLater = 3
        case signatureRequired = 5
        case unauthorized = 6
    }

    /// `CertStatus`.
    public enum CertificateStatus: Sendable, Hashable {
        case good
        /// Revoked at `time`; `reasonCode` is the RFC 5280 `CRLReason`.
        case revoked(time: Date, reasonCode: Int?)
        case unknown
    }

    /// One certificate's answer (`SingleResponse`).
    public struct SingleResponse: Sendable, Hashable {
        public var certificateID: OCSPCertificateID
        public var status: CertificateStatus
        public var thisUpdate: Date
        public var nextUpdate: Date?

        public init(certificateID: OCSPCertificateID, status: CertificateStatus, thisUpdate: Date, nextUpdate: Date?) {
            self.certificateID = certificateID
            self.status = status
            self.thisUpdate = thisUpdate
            self.nextUpdate = nextUpdate
        }
    }

    public var status: Status
    /// The answers of a successful response.
    public var responses: [SingleResponse]
    /// When the response was signed.
    public var producedAt: Date?
    /// The signed `ResponseData`, its signature algorithm's identifier and the signature.
    public var signedBytes: [UInt8]
    public var signatureAlgorithmOID: ASN1ObjectIdentifier?
    public var signature: [UInt8]

    /// `id-pkix-ocsp-basic`.
    static let basicResponseType: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1]
    /// `sha256WithRSAEncryption`, the only signature CUHK makes.
    static let sha256WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 11]

    /// A response without answers: `malformedRequest`, `internalError`, …
    public static func unsuccessful(_ status: Status) -> [UInt8] {
        var serializer = DER.Serializer()
        // Two small fixed nodes; serializing them cannot fail.
        try? serializer.appendConstructedNode(identifier: .sequence) { coder in
            try status.rawValue.serialize(into: &coder, withIdentifier: .enumerated)
        }
        return serializer.serializedBytes
    }

    /// A successful response with `responses`, signed with sha256WithRSAEncryption by `signer` (the issuer itself,
    /// named by key hash).
    ///
    /// - Parameters:
    ///   - responses: The answers, one per certificate asked about.
    ///   - producedAt: The signing time.
    ///   - signer: The issuer's certificate and private key.
    /// - Returns: The DER response.
    /// - Throws: When the key cannot sign.
    public static func signed(
        _ responses: [SingleResponse],
        producedAt: Date,
        signer: (certificate: Certificate, privateKey: Certificate.PrivateKey)
    ) throws -> [UInt8] {
        var data = DER.Serializer()
        try data.appendConstructedNode(identifier: .sequence) { coder in
            // responderID byKey [2]: SHA-1 of the key, as RFC 6960 defines KeyHash.
            try coder.appendConstructedNode(identifier: .init(tagWithNumber: 2, tagClass: .contextSpecific)) { coder in
                let keyHash = OCSPCertificateID.HashAlgorithm.sha1.hash(
                    signer.certificate.publicKey.subjectPublicKeyInfoBytes)
                try coder.serialize(ASN1OctetString(contentBytes: keyHash[...]))
            }
            try coder.serialize(try GeneralizedTime(producedAt))
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                for response in responses { try response.serialize(into: &coder) }
            }
        }
        let signature = try signer.privateKey.sign(
            bytes: data.serializedBytes, signatureAlgorithm: .sha256WithRSAEncryption)
        var basic = DER.Serializer()
        try basic.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(data.serializedBytes)
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(sha256WithRSAEncryption)
                try coder.serialize(ASN1Null())
            }
            try coder.serialize(ASN1BitString(bytes: signature.rawRepresentation[...]))
        }
        var outer = DER.Serializer()
        try outer.appendConstructedNode(identifier: .sequence) { coder in
            try Status.successful.rawValue.serialize(into: &coder, withIdentifier: .enumerated)
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.serialize(basicResponseType)
                    try coder.serialize(ASN1OctetString(contentBytes: basic.serializedBytes[...]))
                }
            }
        }
        return outer.serializedBytes
    }

    /// Reads a DER response.
    ///
    /// - Throws: `ASN1Error` when the bytes are not an OCSP response, or a successful one is not a basic response.
    public init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        let (status, basic) = try DER.sequence(root, identifier: .sequence) { nodes in
            guard let statusNode = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no status") }
            let code = try Int(derEncoded: statusNode, withIdentifier: .enumerated)
            guard let status = Status(rawValue: code) else {
                throw ASN1Error.invalidASN1Object(reason: "unknown OCSP status \(code)")
            }
            let basic = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { node in
                try DER.sequence(node, identifier: .sequence) { parts in
                    let type = try ASN1ObjectIdentifier(derEncoded: &parts)
                    guard type == Self.basicResponseType else {
                        throw ASN1Error.invalidASN1Object(reason: "not a basic OCSP response")
                    }
                    return try ASN1OctetString(derEncoded: &parts).bytes
                }
            }
            return (status, basic)
        }
        self.status = status
        self.responses = []
        self.signedBytes = []
        self.signature = []
        guard status == .successful else { return }
        guard let basic else { throw ASN1Error.invalidASN1Object(reason: "successful without a response") }
        let parsed = try DER.sequence(try DER.parse(Array(basic)), identifier: .sequence) { nodes in
            guard let data = nodes.next(), let algorithmNode = nodes.next() else {
                throw ASN1Error.invalidASN1Object(reason: "short BasicOCSPResponse")
            }
            let algorithm = try DER.sequence(algorithmNode, identifier: .sequence) { algorithm in
                let oid = try ASN1ObjectIdentifier(derEncoded: &algorithm)
                _ = algorithm.next()
                return oid
            }
            let signature = Array(try ASN1BitString(derEncoded: &nodes).bytes)
            _ = nodes.next()  // certs
            let (producedAt, responses) = try DER.sequence(data, identifier: .sequence) { fields in
                _ = try DER.optionalExplicitlyTagged(&fields, tagNumber: 0, tagClass: .contextSpecific) { $0 }
                _ = fields.next()  // responderID
                let producedAt = Date(try GeneralizedTime(derEncoded: &fields))
                let responses = try DER.sequence(of: SingleResponse.self, identifier: .sequence, nodes: &fields)
                _ = fields.next()  // responseExtensions
                return (producedAt, responses)
            }
            return (Array(data.encodedBytes), algorithm, signature, producedAt, responses)
        }
        self.signedBytes = parsed.0
        self.signatureAlgorithmOID = parsed.1
        self.signature = parsed.2
        self.producedAt = parsed.3
        self.responses = parsed.4
    }

    /// Whether the response is signed with sha256WithRSAEncryption by `issuer`'s key.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard status == .successful, signatureAlgorithmOID == Self.sha256WithRSAEncryption else { return false }
        return issuer.publicKey.isValidSignature(
            signature, for: signedBytes, signatureAlgorithm: .sha256WithRSAEncryption)
    }
}

extension OCSPResponseMessage.SingleResponse: DERParseable {
    public init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { fields in
            guard let idNode = fields.next(), let statusNode = fields.next() else {
                throw ASN1Error.invalidASN1Object(reason: "short SingleResponse")
            }
            let id = try OCSPCertificateID(derEncoded: idNode)
            let status: OCSPResponseMessage.CertificateStatus
            switch statusNode.identifier {
            case .init(tagWithNumber: 0, tagClass: .contextSpecific): status = .good
            case .init(tagWithNumber: 2, tagClass: .contextSpecific): status = .unknown
            case .init(tagWithNumber: 1, tagClass: .contextSpecific):
                status = try DER.sequence(statusNode, identifier: statusNode.identifier) { info in
                    let time = Date(try GeneralizedTime(derEncoded: &info))
                    let reason = try DER.optionalExplicitlyTagged(&info, tagNumber: 0, tagClass: .contextSpecific) {
                        try Int(derEncoded: $0, withIdentifier: .enumerated)
                    }
                    return .revoked(time: time, reasonCode: reason)
                }
            default:
                throw ASN1Error.unexpectedFieldType(statusNode.identifier)
            }
            let thisUpdate = Date(try GeneralizedTime(derEncoded: &fields))
            let nextUpdate = try DER.optionalExplicitlyTagged(&fields, tagNumber: 0, tagClass: .contextSpecific) {
                Date(try GeneralizedTime(derEncoded: $0))
            }
            _ = fields.next()  // singleExtensions
            return .init(certificateID: id, status: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate)
        }
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(certificateID.derEncoded)
            switch status {
            case .good:
                coder.appendPrimitiveNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) { _ in }
            case .revoked(let time, let reasonCode):
                try coder.appendConstructedNode(identifier: .init(tagWithNumber: 1, tagClass: .contextSpecific)) {
                    coder in
                    try coder.serialize(try GeneralizedTime(time))
                    if let reasonCode {
                        try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                            try reasonCode.serialize(into: &coder, withIdentifier: .enumerated)
                        }
                    }
                }
            case .unknown:
                coder.appendPrimitiveNode(identifier: .init(tagWithNumber: 2, tagClass: .contextSpecific)) { _ in }
            }
            try coder.serialize(try GeneralizedTime(thisUpdate))
            if let nextUpdate {
                try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                    try coder.serialize(try GeneralizedTime(nextUpdate))
                }
            }
        }
    }
}

extension GeneralizedTime {
    /// The time to the whole second, in UTC, as RFC 5280 wants it (no fractions).
    init(_ date: Date) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
        try self.init(
            year: parts.year!, month: parts.month!, day: parts.day!, hours: parts.hour!, minutes: parts.minute!,
            seconds: parts.second!, fractionalSeconds: 0)
    }
}

extension Date {
    /// The moment a `GeneralizedTime` names (fractions of a second dropped).
    init(_ time: GeneralizedTime) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = DateComponents(
            year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes,
            second: time.seconds)
        self = calendar.date(from: parts) ?? .distantPast
    }
}
