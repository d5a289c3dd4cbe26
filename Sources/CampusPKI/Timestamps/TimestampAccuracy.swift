import SwiftASN1

/// How far the true time may be from a token's `genTime`, either way (RFC 3161 `Accuracy`).
///
/// ```
/// Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
///                         micros [1] INTEGER (1..999) OPTIONAL }
/// ```
public struct TimestampAccuracy: Sendable, Hashable, CustomStringConvertible {
    public var seconds: Int
    public var milliseconds: Int
    public var microseconds: Int

    /// - Throws: ``TimestampError/malformed(_:)`` for a negative number of seconds or milliseconds or microseconds
    ///   outside 0–999.
    public init(seconds: Int = 0, milliseconds: Int = 0, microseconds: Int = 0) throws(TimestampError) {
        guard seconds >= 0, (0...999).contains(milliseconds), (0...999).contains(microseconds) else {
            throw .malformed("an accuracy has whole seconds, 0–999 milliseconds and 0–999 microseconds")
        }
        self.seconds = seconds
        self.milliseconds = milliseconds
        self.microseconds = microseconds
    }

    /// The accuracy in seconds.
    public var timeInterval: Double {
        Double(seconds) + Double(milliseconds) / 1000 + Double(microseconds) / 1_000_000
    }

    /// `1 s`, `0.5 s`, `1.000250 s`.
    public var description: String {
        if milliseconds == 0 && microseconds == 0 { return "\(seconds) s" }
        let fraction = String(milliseconds * 1000 + microseconds)
        let padded = String(repeating: "0", count: 6 - fraction.count) + fraction
        return "\(seconds).\(padded.reversed().drop { $0 == "0" }.reversed().map(String.init).joined()) s"
    }

    init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            let seconds: Int? = try DER.optionalImplicitlyTagged(&nodes, tag: .integer)
            let millis = try DER.optionalImplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific
            ) { try Int(derEncoded: $0, withIdentifier: $0.identifier) }
            let micros = try DER.optionalImplicitlyTagged(
                &nodes, tagNumber: 1, tagClass: .contextSpecific
            ) { try Int(derEncoded: $0, withIdentifier: $0.identifier) }
            // RFC 3161 allows millis and micros 1..999 only: a zero is written by leaving the field out.
            for part in [millis, micros] {
                if let part, !(1...999).contains(part) {
                    throw ASN1Error.invalidASN1Object(reason: "accuracy part out of range")
                }
            }
            if let seconds, seconds < 0 { throw ASN1Error.invalidASN1Object(reason: "negative accuracy") }
            return try TimestampAccuracy(seconds: seconds ?? 0, milliseconds: millis ?? 0, microseconds: micros ?? 0)
        }
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            if seconds > 0 { try coder.serialize(seconds) }
            if milliseconds > 0 {
                try milliseconds.serialize(
                    into: &coder, withIdentifier: .init(tagWithNumber: 0, tagClass: .contextSpecific))
            }
            if microseconds > 0 {
                try microseconds.serialize(
                    into: &coder, withIdentifier: .init(tagWithNumber: 1, tagClass: .contextSpecific))
            }
        }
    }
}
