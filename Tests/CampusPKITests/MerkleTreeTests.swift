import CampusPKI
import Crypto
import Foundation
import Testing

/// RFC 9162 hashing and inclusion proofs, against the vectors of docs/PROTOCOL.md section 9.5 (computed there with
/// Python) and against every leaf of trees of 1 to 40 leaves.
@Suite struct MerkleTreeTests {
    static let vectors: [String: [UInt8]] = {
        guard let text = ReceiptVectorTests.block("merkle-vectors") else { return [:] }
        var vectors: [String: [UInt8]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            vectors[parts[0]] = ProtocolVectorTests.hexBytes(parts[1])
        }
        return vectors
    }()

    func vector(_ name: String) throws -> [UInt8] {
        try #require(Self.vectors[name], "docs/PROTOCOL.md has no Merkle vector \(name)")
    }

    static let leaves = (1...5).map { Array(SHA256.hash(data: Array("receipt \($0)".utf8))) }

    @Test func theFiveLeafTreeIsTheDocumentsTree() throws {
        #expect(Self.vectors.count == 17)
        for (index, leaf) in Self.leaves.enumerated() {
            #expect(leaf == (try vector("leaf_\(index)_data")))
            #expect(MerkleTree.leafHash(leaf) == (try vector("leaf_\(index)_hash")))
        }
        #expect(MerkleTree.rootHash(leaves: Self.leaves) == (try vector("tree_root_5")))
        #expect(MerkleTree.rootHash(leaves: Array(Self.leaves.prefix(4))) == (try vector("tree_root_4")))
        #expect(MerkleTree.rootHash(leaves: []) == (try vector("tree_root_0")))
    }

    @Test func theDocumentsProofsAreMadeAndVerify() throws {
        let hashes = Self.leaves.map { MerkleTree.leafHash($0) }
        let root = try vector("tree_root_5")
        for (index, length) in [(2, 3), (4, 1)] {
            let expected = try (0..<length).map { try vector("proof_leaf_\(index)_\($0)") }
            let proof = try #require(InclusionProof(leafAt: index, leafHashes: hashes))
            #expect(proof.path == expected)
            #expect(proof.treeSize == 5 && proof.leafIndex == UInt64(index))
            #expect(proof.verify(leafHash: hashes[index], rootHash: root))
            // Another leaf, another position, another size or a changed step: refused.
            #expect(!proof.verify(leafHash: hashes[(index + 1) % 5], rootHash: root))
            var moved = proof
            moved.leafIndex = UInt64((index + 1) % 5)
            #expect(!moved.verify(leafHash: hashes[index], rootHash: root))
            // A size with another shape of tree. (Some other sizes have the same path shape, so the verifier of a
            // manifest also compares the proof's size with the manifest's.)
            var resized = proof
            resized.treeSize = 3
            #expect(!resized.verify(leafHash: hashes[index], rootHash: root))
            var changed = proof
            changed.path[0][0] ^= 1
            #expect(!changed.verify(leafHash: hashes[index], rootHash: root))
            var longer = proof
            longer.path.append(root)
            #expect(!longer.verify(leafHash: hashes[index], rootHash: root))
        }
    }

    @Test func everyLeafOfSmallTreesHasAProofThatOnlyItPasses() throws {
        for size in 1...40 {
            let hashes = (0..<size).map { MerkleTree.leafHash(Array("leaf \($0)".utf8)) }
            let root = MerkleTree.rootHash(leafHashes: hashes)
            for index in 0..<size {
                let proof = try #require(InclusionProof(leafAt: index, leafHashes: hashes))
                #expect(proof.verify(leafHash: hashes[index], rootHash: root), "size \(size), leaf \(index)")
                if size > 1 {
                    #expect(!proof.verify(leafHash: hashes[(index + 1) % size], rootHash: root))
                }
            }
            #expect(InclusionProof(leafAt: size, leafHashes: hashes) == nil)
            #expect(
                !MerkleTree.verifyInclusion(
                    leafHash: hashes[0], index: UInt64(size), treeSize: UInt64(size), path: [], rootHash: root))
        }
    }

    @Test func aLeafCannotPassForANode() {
        // The prefixes differ: the leaf hash of two hashes' concatenation is not their node hash.
        let a = MerkleTree.leafHash([1])
        let b = MerkleTree.leafHash([2])
        #expect(MerkleTree.leafHash(a + b) != MerkleTree.nodeHash(a, b))
        #expect(MerkleTree.rootHash(leafHashes: [a, b]) == MerkleTree.nodeHash(a, b))
    }
}
