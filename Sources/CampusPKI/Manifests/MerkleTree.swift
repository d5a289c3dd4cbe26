import Crypto
import Foundation

/// Merkle trees with the hashing of RFC 9162 (Certificate Transparency 2.0) section 2.1, with SHA-256.
///
/// ```
/// leaf hash   = SHA-256(0x00 ‖ leaf data)
/// node hash   = SHA-256(0x01 ‖ left ‖ right)
/// MTH({})     = SHA-256()                         (the empty string)
/// MTH({d0})   = leaf hash of d0
/// MTH(D[n])   = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))   for n > 1, k the largest power of two < n
/// ```
///
/// The distinct prefixes keep a leaf from passing for an inner node (a second-preimage attack on the tree).
public enum MerkleTree {
    /// The hash of a leaf with `data`.
    public static func leafHash(_ data: some DataProtocol) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: data)
        return Array(hasher.finalize())
    }

    /// The hash of an inner node with children `left` and `right`.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The Merkle Tree Hash (MTH) of the leaves whose hashes are `leafHashes`, in order.
    public static func rootHash(leafHashes: [[UInt8]]) -> [UInt8] {
        guard !leafHashes.isEmpty else { return Array(SHA256.hash(data: [UInt8]())) }
        return subtreeHash(leafHashes[...])
    }

    /// The Merkle Tree Hash of the leaves with `leaves` as their data, in order.
    public static func rootHash(leaves: [[UInt8]]) -> [UInt8] {
        rootHash(leafHashes: leaves.map { leafHash($0) })
    }

    /// The largest power of two smaller than `count` (which must be at least 2).
    static func split(_ count: Int) -> Int {
        var k = 1
        while k << 1 < count { k <<= 1 }
        return k
    }

    private static func subtreeHash(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
        if hashes.count == 1 { return hashes[hashes.startIndex] }
        let middle = hashes.startIndex + split(hashes.count)
        return nodeHash(subtreeHash(hashes[..<middle]), subtreeHash(hashes[middle...]))
    }

    /// The audit path of leaf `index` (RFC 9162 section 2.1.3.1, `PATH(m, D[n])`): the sibling hashes from the
    /// leaf up to the root.
    ///
    /// - Returns: `nil` when `index` is not a leaf of the tree.
    public static func inclusionPath(forLeafAt index: Int, leafHashes: [[UInt8]]) -> [[UInt8]]? {
        guard index >= 0, index < leafHashes.count else { return nil }
        return path(index, leafHashes[...])
    }

    private static func path(_ index: Int, _ hashes: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard hashes.count > 1 else { return [] }
        let k = split(hashes.count)
        let middle = hashes.startIndex + k
        if index < k {
            return path(index, hashes[..<middle]) + [subtreeHash(hashes[middle...])]
        }
        return path(index - k, hashes[middle...]) + [subtreeHash(hashes[..<middle])]
    }

    /// Whether `path` proves that the leaf with hash `leafHash` is leaf `index` of the tree of `treeSize` leaves
    /// whose root is `rootHash`, by the algorithm of RFC 9162 section 2.1.3.2.
    public static func verifyInclusion(
        leafHash: [UInt8], index: UInt64, treeSize: UInt64, path: [[UInt8]], rootHash: [UInt8]
    ) -> Bool {
        guard index < treeSize else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in path {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == rootHash
    }
}
