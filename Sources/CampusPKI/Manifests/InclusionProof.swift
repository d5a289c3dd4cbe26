/// That one leaf is in a Merkle tree (RFC 9162 section 2.1.3): its index, the tree's size and the audit path.
public struct InclusionProof: Sendable, Hashable {
    /// The leaf's position, from 0.
    public var leafIndex: UInt64
    /// How many leaves the tree has.
    public var treeSize: UInt64
    /// The sibling hashes from the leaf up to the root.
    public var path: [[UInt8]]

    public init(leafIndex: UInt64, treeSize: UInt64, path: [[UInt8]]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.path = path
    }

    /// The proof for leaf `index` of the tree whose leaf hashes are `leafHashes`; `nil` when there is no such leaf.
    public init?(leafAt index: Int, leafHashes: [[UInt8]]) {
        guard let path = MerkleTree.inclusionPath(forLeafAt: index, leafHashes: leafHashes) else { return nil }
        self.init(leafIndex: UInt64(index), treeSize: UInt64(leafHashes.count), path: path)
    }

    /// Whether the proof shows the leaf with hash `leafHash` in the tree whose root is `rootHash`.
    public func verify(leafHash: [UInt8], rootHash: [UInt8]) -> Bool {
        MerkleTree.verifyInclusion(
            leafHash: leafHash, index: leafIndex, treeSize: treeSize, path: path, rootHash: rootHash)
    }
}
