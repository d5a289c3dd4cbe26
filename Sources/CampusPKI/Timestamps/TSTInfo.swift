import Foundation
import SwiftASN1

/// What a timestamp token states (RFC 3161 section 2.4.2 `TSTInfo`): which data, by which policy, when, and
/// under which serial.
///
/// ```
/// TSTInfo ::= SEQUENCE {
///    version        INTEGER { v1(1) },
///    policy         TSAPolicyId,
///    messageImprint MessageImprint,
///    serialNumber   INTEGER,
///    genTime        GeneralizedTime,
///    accuracy       Accuracy OPTIONAL,
///    ordering       BOOLEAN DEFAULT FALSE,
///    nonce          INTEGER OPTIONAL,
///    tsa            [0] GeneralName OPTIONAL,
///    extensions     [1] IMPLICIT Extensions OPTIONAL }
/// ```
public struct TSTInfo: Sendable, Hashable {
    /// The policy under which the token was made.
    public var policy: TimestampPolicy
    /// The data the token is for.
    public var messageImprint: MessageImprint
    /// The token's serial: a positive integer's big-endian bytes without leading zeros, at most 20 (160 bits, RFC
    /// 3161).
    public var serialNumber: [UInt8]
    /// When the token was made, by the TSA's clock.
    public var generationTime: Date
    /// `genTime` exactly as written (its fraction of a second kept).
    public var generationTimeText: String
    public var accuracy: TimestampAccuracy?
    /// Whether tokens from this TSA can be ordered by `genTime` alone (CUHK says no: the default).
    public var ordering: Bool
    /// The nonce of the request (big-endian bytes without leading zeros).
    public var nonce: [UInt8]?
    /// The DER of the `tsa` name, if the token has one (CUHK's have none).
    public var authorityName: [UInt8]?

    /// The largest serial number, in bytes (RFC 3161: up to 160 bits).
    public static let maximumSerialLength = 20

    /// The serial in lower-case hex.
    public var serialHex: String { serialNumber.hexString }

    /// A TSTInfo as a TSA makes it; `generationTime` is cut to whole milliseconds.
    public init(
        policy: TimestampPolicy, messageImprint: MessageImprint, serialNumber: [UInt8], generationTime: Date,
        accuracy: TimestampAccuracy?, nonce: [UInt8]?
    ) throws(TimestampError) {
        guard (1...Self.maximumSerialLength).contains(serialNumber.count), serialNumber[0] != 0 else {
            throw .malformed("a token serial is a positive integer of 1 to \(Self.maximumSerialLength) bytes")
        }
        self.policy = policy
        self.messageImprint = messageImprint
        self.serialNumber = serialNumber
        self.generationTime = TimestampTime.milliseconds(generationTime)
        guard let time = try? TimestampTime.generalizedTime(generationTime) else {
            throw .malformed("the time \(generationTime) cannot be written as a GeneralizedTime")
        }
        self.generationTimeText = TimestampTime.format(time)
        self.accuracy = accuracy
        self.ordering = false
        self.nonce = nonce
        self.authorityName = nil
    }

    /// Reads a DER TSTInfo (the eContent of a token).
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` or ``TimestampError/unsupportedAlgorithm(_:)`` with the first
    ///   problem found; a critical extension is refused, since none is understood here.
    public init(derEncoded bytes: [UInt8]) throws(TimestampError) {
        do {
            let root = try DER.parse(bytes)
            self = try DER.sequence(root, identifier: .sequence) { nodes in
                let version = try Int(derEncoded: &nodes)
                guard version == 1 else {
                    throw TimestampError.malformed("the TSTInfo's version is \(version); only version 1 exists")
                }
                guard let policyNode = nodes.next() else { throw TimestampError.malformed("the TSTInfo has no policy") }
                let policy = try TimestampPolicy(derEncoded: policyNode)
                guard let imprintNode = nodes.next() else {
                    throw TimestampError.malformed("the TSTInfo has no message imprint")
                }
                let imprint = try MessageImprint(derEncoded: imprintNode)
                let serial = Array(try ArraySlice<UInt8>(derEncoded: &nodes))
                guard (1...Self.maximumSerialLength).contains(serial.count) else {
                    throw TimestampError.malformed(
                        "the token's serial is not a positive integer of at most \(Self.maximumSerialLength) bytes")
                }
                let time = try GeneralizedTime(derEncoded: &nodes)
                var accuracy: TimestampAccuracy?
                if let node = nodes.peek(), node.identifier == .sequence {
                    _ = nodes.next()
                    accuracy = try TimestampAccuracy(derEncoded: node)
                }
                let ordering = try DER.decodeDefault(&nodes, identifier: .boolean, defaultValue: false)
                let nonceBytes: ArraySlice<UInt8>? = try DER.optionalImplicitlyTagged(&nodes, tag: .integer)
                let name = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                    Array($0.encodedBytes)
                }
                if let node = nodes.next() {
                    guard node.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) else {
                        throw TimestampError.malformed("the TSTInfo has an unexpected field after its tsa name")
                    }
                    try Self.checkExtensions(node)
                }
                var info = try TSTInfo(
                    policy: policy, messageImprint: imprint, serialNumber: serial,
                    generationTime: TimestampTime.date(time), accuracy: accuracy,
                    nonce: nonceBytes.map { Array($0) })
                info.generationTime = TimestampTime.date(time)
                info.generationTimeText = TimestampTime.format(time)
                info.ordering = ordering
                info.authorityName = name
                return info
            }
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the token's content is not a DER TSTInfo")
        }
    }

    /// Refuses a critical extension: RFC 5280 says a reader that does not understand one must not accept the data.
    private static func checkExtensions(_ node: ASN1Node) throws {
        try DER.sequence(node, identifier: node.identifier) { extensions in
            while let item = extensions.next() {
                try DER.sequence(item, identifier: .sequence) { fields in
                    let oid = try ASN1ObjectIdentifier(derEncoded: &fields)
                    let critical = try DER.decodeDefault(&fields, identifier: .boolean, defaultValue: false)
                    _ = try ASN1OctetString(derEncoded: &fields)
                    if critical {
                        throw TimestampError.malformed(
                            "the TSTInfo has a critical extension \(oid) not understood here")
                    }
                }
            }
        }
    }

    /// The DER encoding, as the token's eContent.
    public func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(1)
            policy.serialize(into: &coder)
            try messageImprint.serialize(into: &coder)
            try coder.serialize(serialNumber[...])
            try coder.serialize(try TimestampTime.generalizedTime(generationTime))
            if let accuracy { try accuracy.serialize(into: &coder) }
            if ordering { try coder.serialize(true) }
            if let nonce { try coder.serialize(nonce[...]) }
            if let authorityName {
                coder.appendConstructedNode(identifier: .init(tagWithNumber: 0, tagClass: .contextSpecific)) { coder in
                    coder.serializeRawBytes(authorityName)
                }
            }
        }
        return serializer.serializedBytes
    }
}
