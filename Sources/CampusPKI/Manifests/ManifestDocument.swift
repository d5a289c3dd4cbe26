import Crypto
import Foundation

/// The signed head of a deadline manifest: which assignment, which deadline, which reports (on time or late), how
/// many, and the root of the Merkle tree over their receipts.
///
/// The document has a single canonical form, UTF-8 lines each ended by one LF, in a fixed order:
///
/// ```
/// CampusPKI deadline manifest
/// version: 1
/// assignment: lab-3
/// deadline: 2026-12-01T23:59:59Z
/// kind: on-time
/// tree: rfc9162-sha256
/// leaf: sha256(signed-receipt-der)
/// order: report-number
/// size: 5
/// root: 3f1c…
/// ```
///
/// `deadline` is `none` for an assignment without one; `kind` is `on-time` or `late`; `size` is the number of
/// leaves and `root` the Merkle Tree Hash (RFC 9162 section 2.1, SHA-256) of the leaves, 64 lower-case hex digits.
/// Leaf *i*'s data is the SHA-256 of the DER of the signed receipt (section 5.8 of docs/PROTOCOL.md) of the report
/// with the *i*-th smallest report number among the manifest's reports, so its leaf hash is
/// SHA-256(0x00 ‖ SHA-256(receipt DER)). The `tree`, `leaf` and `order` lines name these rules; version 1 has no
/// others. Parsing accepts exactly this form.
public struct ManifestDocument: Sendable, Hashable {
    /// Which reports a manifest lists.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Reports committed at or before the deadline.
        case onTime = "on-time"
        /// Reports committed after it.
        case late = "late"
    }

    public static let title = "CampusPKI deadline manifest"
    public static let currentVersion = 1
    static let treeRule = "rfc9162-sha256"
    static let leafRule = "sha256(signed-receipt-der)"
    static let orderRule = "report-number"
    static let keys = ["version", "assignment", "deadline", "kind", "tree", "leaf", "order", "size", "root"]

    public let assignment: String
    /// The deadline (whole seconds), if the assignment has one.
    public let deadline: Date?
    public let kind: Kind
    /// How many leaves the tree has.
    public let treeSize: UInt64
    /// The tree's root hash (32 bytes).
    public let rootHash: [UInt8]

    /// Makes a document; `deadline` is cut to whole seconds.
    ///
    /// - Throws: ``ManifestError/malformedDocument(_:)`` for an assignment name receipts do not allow, a root hash
    ///   that is not 32 bytes, or a deadline outside the years 1–9999.
    public init(assignment: String, deadline: Date?, kind: Kind, treeSize: UInt64, rootHash: [UInt8])
        throws(ManifestError)
    {
        guard ReceiptDocument.isValidAssignmentName(assignment) else {
            throw .malformedDocument(
                "the assignment name \"\(assignment)\" is not valid: \(ReceiptDocument.assignmentRequirement)")
        }
        guard rootHash.count == 32 else {
            throw .malformedDocument("the root hash has \(rootHash.count) bytes; a SHA-256 has 32")
        }
        let deadline = deadline.map(ReceiptDocument.wholeSeconds)
        if let deadline, !ReceiptTime.isRepresentable(deadline) {
            throw .malformedDocument("the deadline \(deadline) is outside the years 0001–9999")
        }
        self.assignment = assignment
        self.deadline = deadline
        self.kind = kind
        self.treeSize = treeSize
        self.rootHash = rootHash
    }

    /// The leaf data of a signed receipt: the SHA-256 of its DER.
    public static func leaf(ofReceipt der: some DataProtocol) -> [UInt8] {
        Array(SHA256.hash(data: der))
    }

    /// The document for `receipts`, with the leaves in report-number order.
    ///
    /// - Parameter receipts: Each report's number and signed receipt (DER).
    /// - Returns: The document and the leaves' data, in tree order.
    /// - Throws: ``ManifestError/malformedDocument(_:)`` when two receipts have the same report number, or a field is
    ///   not valid.
    public static func build(
        assignment: String, deadline: Date?, kind: Kind, receipts: [(report: UInt64, der: [UInt8])]
    ) throws(ManifestError) -> (document: ManifestDocument, leaves: [[UInt8]]) {
        let sorted = receipts.sorted { $0.report < $1.report }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.report == second.report {
            throw .malformedDocument("report \(first.report) is given twice")
        }
        let leaves = sorted.map { leaf(ofReceipt: $0.der) }
        let document = try ManifestDocument(
            assignment: assignment, deadline: deadline, kind: kind, treeSize: UInt64(leaves.count),
            rootHash: MerkleTree.rootHash(leaves: leaves))
        return (document, leaves)
    }

    /// Reads a document from its canonical bytes.
    ///
    /// - Throws: ``ManifestError/malformedDocument(_:)`` naming the first line that is not as the canonical form
    ///   requires.
    public init(parsing bytes: some Collection<UInt8>) throws(ManifestError) {
        let bytes = Array(bytes)
        guard let text = String(validating: bytes, as: UTF8.self), text.utf8.last == UInt8(ascii: "\n") else {
            throw .malformedDocument("the manifest text is not UTF-8 ending with a line break")
        }
        let lines = text.utf8.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.first == Self.title else { throw .malformedDocument("the first line is not \"\(Self.title)\"") }
        guard lines.count == Self.keys.count + 1 else {
            throw .malformedDocument("the manifest has \(lines.count) lines; a manifest has \(Self.keys.count + 1)")
        }
        var values: [String: String] = [:]
        for (index, (key, line)) in zip(Self.keys, lines.dropFirst()).enumerated() {
            guard line.hasPrefix(key + ": ") else {
                throw .malformedDocument("line \(index + 2) should start with \"\(key): \"")
            }
            values[key] = String(line.dropFirst(key.count + 2))
        }
        guard values["version"] == String(Self.currentVersion) else {
            throw .malformedDocument("the manifest version is not \(Self.currentVersion)")
        }
        for (key, rule) in [("tree", Self.treeRule), ("leaf", Self.leafRule), ("order", Self.orderRule)]
        where values[key] != rule {
            throw .malformedDocument("\(key) is not \"\(rule)\", the only rule of version \(Self.currentVersion)")
        }
        guard let kind = Kind(rawValue: values["kind"]!) else {
            throw .malformedDocument("kind is neither on-time nor late")
        }
        let deadline: Date?
        if values["deadline"] == "none" {
            deadline = nil
        } else {
            guard let parsed = ReceiptTime.parse(values["deadline"]!) else {
                throw .malformedDocument("deadline is not a UTC time like 2026-12-01T23:59:59Z, nor none")
            }
            deadline = parsed
        }
        guard let size = UInt64(values["size"]!) else { throw .malformedDocument("size is not a whole number") }
        guard let root = ReceiptDocument.bytes(hex: values["root"]!), root.count == 32 else {
            throw .malformedDocument("root is not 64 lower-case hex digits")
        }
        try self.init(
            assignment: values["assignment"]!, deadline: deadline, kind: kind, treeSize: size, rootHash: root)
        guard canonicalBytes == bytes else {
            throw .malformedDocument("the manifest text is not in canonical form (a field is written differently)")
        }
    }

    /// The fields as (key, value) pairs, in the order of the canonical form.
    public func fieldLines() -> [(String, String)] {
        let values = [
            String(Self.currentVersion), assignment, deadline.map(ReceiptTime.format) ?? "none", kind.rawValue,
            Self.treeRule, Self.leafRule, Self.orderRule, String(treeSize), rootHash.hexString,
        ]
        return Array(zip(Self.keys, values))
    }

    /// The canonical text.
    public var canonicalText: String {
        ([Self.title] + fieldLines().map { "\($0.0): \($0.1)" }).map { $0 + "\n" }.joined()
    }

    /// The canonical text as UTF-8: the bytes a manifest signs.
    public var canonicalBytes: [UInt8] { Array(canonicalText.utf8) }
}
