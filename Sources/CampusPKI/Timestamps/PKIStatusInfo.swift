import SwiftASN1

/// The status of a timestamp reply (RFC 3161 section 2.4.2, from RFC 4210 `PKIStatusInfo`).
///
/// ```
/// PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
///                              failInfo PKIFailureInfo OPTIONAL }
/// ```
public struct PKIStatusInfo: Sendable, Hashable, CustomStringConvertible {
    /// `PKIStatus`.
    public enum Status: Int, Sendable, Hashable {
        case granted = 0
        case grantedWithModifications = 1
        case rejection = 2
        case waiting = 3
        case revocationWarning = 4
        case revocationNotification = 5
    }

    /// The `PKIFailureInfo` bits RFC 3161 names.
    public enum FailureInfo: Int, Sendable, Hashable, CaseIterable {
        /// Unrecognized or unsupported algorithm.
        case badAlgorithm = 0
        /// Transaction not permitted or supported.
        case badRequest = 2
        /// The data submitted has the wrong format.
        case badDataFormat = 5
        /// The TSA's time source is not available.
        case timeNotAvailable = 14
        /// The requested TSA policy is not supported.
        case unacceptedPolicy = 15
        /// The requested extension is not supported.
        case unacceptedExtension = 16
        /// The additional information requested could not be understood or is not available.
        case additionalInformationNotAvailable = 17
        /// The request cannot be handled due to system failure.
        case systemFailure = 25

        /// The name RFC 3161 gives the bit.
        public var name: String {
            switch self {
            case .badAlgorithm: "badAlg"
            case .badRequest: "badRequest"
            case .badDataFormat: "badDataFormat"
            case .timeNotAvailable: "timeNotAvailable"
            case .unacceptedPolicy: "unacceptedPolicy"
            case .unacceptedExtension: "unacceptedExtension"
            case .additionalInformationNotAvailable: "addInfoNotAvailable"
            case .systemFailure: "systemFailure"
            }
        }
    }

    public var status: Status
    /// Free text for a person (`statusString`).
    public var text: [String]
    /// The failure, when the request was refused.
    public var failure: FailureInfo?
    /// Other failure bits set, by number (0–31): bits RFC 3161 does not name, and named bits after the first.
    public var otherFailureBits: [Int]

    public init(status: Status, text: [String] = [], failure: FailureInfo? = nil, otherFailureBits: [Int] = []) {
        self.status = status
        self.text = text
        self.failure = failure
        self.otherFailureBits = otherFailureBits
    }

    /// A rejection with one failure bit and a reason.
    public static func rejection(_ failure: FailureInfo, _ reason: String) -> PKIStatusInfo {
        PKIStatusInfo(status: .rejection, text: [reason], failure: failure)
    }

    public var description: String {
        var parts = ["status \(status.rawValue) (\(status))"]
        if let failure { parts.append("failInfo \(failure.name)") }
        if !otherFailureBits.isEmpty { parts.append("failInfo bits \(otherFailureBits)") }
        if !text.isEmpty { parts.append("\"" + text.joined(separator: " ") + "\"") }
        return parts.joined(separator: ", ")
    }

    /// The longest status text read, in bytes all strings together.
    static let maximumTextLength = 1024

    init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            let code = try Int(derEncoded: &nodes)
            guard let status = Status(rawValue: code) else {
                throw ASN1Error.invalidASN1Object(reason: "unknown PKIStatus \(code)")
            }
            var text: [String] = []
            if let node = nodes.peek(), node.identifier == .sequence {
                _ = nodes.next()
                let strings = try DER.sequence(of: ASN1UTF8String.self, identifier: .sequence, rootNode: node)
                guard !strings.isEmpty else { throw ASN1Error.invalidASN1Object(reason: "empty status text") }
                for string in strings {
                    guard let line = String(validating: string.bytes, as: UTF8.self) else {
                        throw ASN1Error.invalidASN1Object(reason: "status text is not UTF-8")
                    }
                    text.append(line)
                }
                guard text.reduce(0, { $0 + $1.utf8.count }) <= Self.maximumTextLength else {
                    throw ASN1Error.invalidASN1Object(reason: "status text too long")
                }
            }
            var failure: FailureInfo?
            var other: [Int] = []
            if let node = nodes.next() {
                let bits = try ASN1BitString(derEncoded: node)
                // DER drops the trailing zero bits of a named bit list: the last bit is set, and nothing follows it.
                guard let last = bits.bytes.last, last != 0, bits.paddingBits == last.trailingZeroBitCount,
                    bits.bytes.count <= 4
                else { throw ASN1Error.invalidASN1Object(reason: "failInfo is not a DER named bit list") }
                for (index, byte) in bits.bytes.enumerated() {
                    for bit in 0..<8 where byte & (0x80 >> bit) != 0 {
                        let number = index * 8 + bit
                        if failure == nil, let known = FailureInfo(rawValue: number) {
                            failure = known
                        } else {
                            other.append(number)
                        }
                    }
                }
            }
            return PKIStatusInfo(status: status, text: text, failure: failure, otherFailureBits: other)
        }
    }

    func serialize(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(status.rawValue)
            if !text.isEmpty {
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    for line in text { try coder.serialize(ASN1UTF8String(line)) }
                }
            }
            let numbers = ((failure.map { [$0.rawValue] } ?? []) + otherFailureBits).filter { (0..<32).contains($0) }
            if let highest = numbers.max() {
                // A named bit list in DER: the bits up to the last one set, the rest of the last byte unused.
                var bytes = [UInt8](repeating: 0, count: highest / 8 + 1)
                for number in numbers { bytes[number / 8] |= 0x80 >> UInt8(number % 8) }
                try coder.serialize(ASN1BitString(bytes: bytes[...], paddingBits: 7 - highest % 8))
            }
        }
    }
}
