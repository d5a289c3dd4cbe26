import SwiftASN1

/// A timestamp policy identifier (`TSAPolicyId`, an OBJECT IDENTIFIER), kept as its DER content bytes.
///
/// SwiftASN1's `ASN1ObjectIdentifier` holds arcs of at most 64 bits, but an identifier under `2.25` (ITU-T X.667:
/// a UUID read as one integer, an arc that anyone may create without registering it) has an arc of up to 128 bits.
/// This type reads and writes arcs up to 128 bits, so CUHK's policy, which lives under such an arc, and other
/// TSAs' policies alike can be handled.
public struct TimestampPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The DER content octets (base-128 subidentifiers, the first two arcs combined).
    public let contentBytes: [UInt8]

    /// CampusPKI's arc: `2.25.178493196361149240086242339376451507089`, the UUID
    /// `86488a07-50e3-475f-8ec6-6f28cf135391` under X.667's UUID arc.
    public static let campusArc = "2.25.178493196361149240086242339376451507089"

    /// CUHK's timestamp policy, version 1: `<campusArc>.1` (docs/PROTOCOL.md section 9.2).
    public static let cuhk = try! TimestampPolicy(dotted: campusArc + ".1")

    /// The most content bytes read (a policy identifier is a few dozen bytes).
    static let maximumLength = 64

    /// Makes an identifier from its dotted form, such as `1.3.6.1.4.1.4146.2.2`.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` for fewer than two arcs, a first arc other than 0–2, a second arc
    ///   over 39 under 0 or 1, or an arc over 128 bits.
    public init(dotted: String) throws(TimestampError) {
        let parts = dotted.split(separator: ".", omittingEmptySubsequences: false)
        var arcs: [UInt128] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let arc = UInt128(part) else {
                throw .malformed("\"\(dotted)\" is not an object identifier in dotted form")
            }
            arcs.append(arc)
        }
        guard arcs.count >= 2, arcs[0] <= 2, arcs[0] == 2 || arcs[1] < 40 else {
            throw .malformed("\"\(dotted)\" is not a valid object identifier")
        }
        let (first, overflow) = (arcs[0] * 40).addingReportingOverflow(arcs[1])
        guard !overflow else { throw .malformed("\"\(dotted)\" has an arc too large") }
        var bytes: [UInt8] = []
        for arc in [first] + arcs.dropFirst(2) { Self.append(arc, to: &bytes) }
        guard bytes.count <= Self.maximumLength else { throw .malformed("the object identifier is too long") }
        contentBytes = bytes
    }

    /// Reads an OBJECT IDENTIFIER node.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` when it is not a minimal DER identifier with arcs of at most
    ///   128 bits.
    public init(derEncoded node: ASN1Node) throws(TimestampError) {
        guard node.identifier == .objectIdentifier, case .primitive(let content) = node.content else {
            throw .malformed("the policy is not an OBJECT IDENTIFIER")
        }
        guard !content.isEmpty, content.count <= Self.maximumLength, Self.arcs(of: Array(content)) != nil else {
            throw .malformed("the policy identifier is not a valid OBJECT IDENTIFIER")
        }
        contentBytes = Array(content)
    }

    /// The arcs; `nil` when the bytes are not minimal base-128 numbers of at most 128 bits each.
    static func arcs(of bytes: [UInt8]) -> [UInt128]? {
        var subidentifiers: [UInt128] = []
        var value: UInt128 = 0
        var started = false
        for byte in bytes {
            // A leading 0x80 would pad a number: not DER.
            if !started && byte == 0x80 { return nil }
            guard value >> 121 == 0 else { return nil }
            value = value << 7 | UInt128(byte & 0x7F)
            started = true
            if byte & 0x80 == 0 {
                subidentifiers.append(value)
                value = 0
                started = false
            }
        }
        guard !started, let first = subidentifiers.first else { return nil }
        let head: [UInt128] = first < 80 ? [first / 40, first % 40] : [2, first - 80]
        return head + subidentifiers.dropFirst()
    }

    private static func append(_ value: UInt128, to bytes: inout [UInt8]) {
        var groups: [UInt8] = [UInt8(value & 0x7F)]
        var rest = value >> 7
        while rest > 0 {
            groups.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(contentsOf: groups.reversed())
    }

    /// The dotted form, such as `2.25.1784…089.1`.
    public var description: String {
        (Self.arcs(of: contentBytes) ?? []).map { String($0) }.joined(separator: ".")
    }

    func serialize(into coder: inout DER.Serializer) {
        coder.appendPrimitiveNode(identifier: .objectIdentifier) { $0.append(contentsOf: contentBytes) }
    }
}
