import Foundation
import SwiftASN1

/// A deadline manifest as it is published: the leaves, each with the number of its report, and the signed manifest
/// (``SignedManifest``) as a PEM block, in one text file.
///
/// ```
/// CampusPKI deadline manifest bundle
/// leaves: 2
/// leaf: 3 5f0c…(64 hex digits)
/// leaf: 7 9a1e…
/// -----BEGIN CMS-----
/// MIIH…
/// -----END CMS-----
/// ```
///
/// Each line ends with one LF. A `leaf` line holds a report number and that report's leaf data (the SHA-256 of its
/// signed receipt's DER), in tree order, the report numbers strictly increasing. The signature covers the head only
/// (the tree's size and root), not these lines: the leaves are checked by recomputing the root from them, and the
/// report numbers only tell a reader which leaf is whose. The PEM block is what `openssl cms -verify -inform PEM`
/// reads (it skips the lines before it).
public struct ManifestBundle: Sendable, Hashable {
    /// One leaf and the report it stands for.
    public struct Leaf: Sendable, Hashable {
        public var report: UInt64
        /// The leaf data: SHA-256 of the report's signed receipt (32 bytes).
        public var data: [UInt8]

        public init(report: UInt64, data: [UInt8]) {
            self.report = report
            self.data = data
        }
    }

    public static let title = "CampusPKI deadline manifest bundle"
    /// The largest bundle read: a signed manifest and a leaf line (about 80 bytes) for each of 100,000 reports.
    public static let maximumSize = SignedManifest.maximumSize + 100_000 * 90

    /// The leaves in tree order.
    public var leaves: [Leaf]
    /// The signed manifest (DER).
    public var signedManifest: [UInt8]

    /// A bundle; the leaves must be in tree order (report numbers strictly increasing) with 32-byte data.
    ///
    /// - Throws: ``ManifestError/malformedDocument(_:)`` otherwise.
    public init(leaves: [Leaf], signedManifest: [UInt8]) throws(ManifestError) {
        for leaf in leaves where leaf.data.count != 32 {
            throw .malformedDocument("the leaf of report \(leaf.report) has \(leaf.data.count) bytes, not 32")
        }
        for (first, second) in zip(leaves, leaves.dropFirst()) where first.report >= second.report {
            throw .malformedDocument(
                "the leaves are not in report-number order (report \(second.report) after \(first.report))")
        }
        self.leaves = leaves
        self.signedManifest = signedManifest
    }

    /// The leaves' data, in tree order, as ``SignedManifest/InclusionEvidence/leaves(_:)`` takes them.
    public var leafData: [[UInt8]] { leaves.map(\.data) }

    /// The text.
    public var text: String {
        var lines = [Self.title, "leaves: \(leaves.count)"]
        lines += leaves.map { "leaf: \($0.report) \($0.data.hexString)" }
        lines.append("-----BEGIN CMS-----")
        let base64 = Array(Data(signedManifest).base64EncodedString().utf8)
        var start = 0
        while start < base64.count {
            let end = min(start + 64, base64.count)
            lines.append(String(decoding: base64[start..<end], as: UTF8.self))
            start = end
        }
        lines.append("-----END CMS-----")
        return lines.map { $0 + "\n" }.joined()
    }

    /// The text as UTF-8.
    public var bytes: [UInt8] { Array(text.utf8) }

    /// Reads a bundle, exactly in the form ``text`` writes.
    ///
    /// - Throws: ``ManifestError/malformedDocument(_:)`` naming the first line that is not as it should be.
    public init(parsing bytes: some Collection<UInt8>) throws(ManifestError) {
        let bytes = Array(bytes)
        guard bytes.count <= Self.maximumSize else {
            throw .malformedDocument("the bundle has \(bytes.count) bytes, more than the \(Self.maximumSize) read")
        }
        guard let text = String(validating: bytes, as: UTF8.self), text.utf8.last == UInt8(ascii: "\n") else {
            throw .malformedDocument("the bundle is not UTF-8 text ending with a line break")
        }
        let lines = text.utf8.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.first == Self.title else {
            throw .malformedDocument("the first line is not \"\(Self.title)\"")
        }
        guard lines.count >= 2, lines[1].hasPrefix("leaves: "), let count = Int(lines[1].dropFirst(8)), count >= 0,
            lines.count >= count + 4
        else {
            throw .malformedDocument("the second line is not \"leaves: <number>\", or the bundle is cut short")
        }
        var leaves: [Leaf] = []
        for (index, line) in lines[2..<(2 + count)].enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "leaf:", let report = UInt64(parts[1]),
                let data = ReceiptDocument.bytes(hex: String(parts[2])), data.count == 32
            else {
                throw .malformedDocument(
                    "line \(index + 3) is not \"leaf: <report number> <64 lower-case hex digits>\"")
            }
            leaves.append(Leaf(report: report, data: data))
        }
        let pem = lines[(2 + count)...].map { $0 + "\n" }.joined()
        guard lines[2 + count] == "-----BEGIN CMS-----", lines.last == "-----END CMS-----" else {
            throw .malformedDocument("after the leaves, the bundle does not hold one PEM block labelled CMS")
        }
        let der: [UInt8]
        do {
            let document = try PEMDocument(pemString: pem)
            der = document.derBytes
        } catch {
            throw .malformedDocument("the signed manifest's PEM block cannot be decoded")
        }
        try self.init(leaves: leaves, signedManifest: der)
        guard self.bytes == bytes else {
            throw .malformedDocument("the bundle is not in canonical form (a line is written differently)")
        }
    }
}
