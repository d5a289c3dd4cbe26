import ArgumentParser
import CampusBlackboard
import CampusCommandLine
import CampusPKI
import Foundation
import X509

struct ManifestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Deadline manifests: the signed, CUHK-timestamped lists of an assignment's receipts.",
        discussion: """
            blackboard serve makes an assignment's on-time manifest when its deadline passes, and, when the \
            assignment is closed, the late one (and the on-time one if there is none yet). Each is a Merkle tree \
            over the SHA-256 of the receipts, whose head Blackboard signs and CUHK timestamps. They are also served \
            without login on the web interface: GET /manifests/ASSIGNMENT and GET /manifests/ASSIGNMENT/late.
            """,
        subcommands: [List.self, Export.self, Proof.self, Verify.self]
    )

    /// The manifest of `assignment` of `kind`, or exit 1 saying there is none.
    static func stored(_ assignment: String, late: Bool, in store: any BlackboardStore, command: String) async throws
        -> StoredManifest
    {
        let kind: ManifestDocument.Kind = late ? .late : .onTime
        guard let manifest = try await store.manifests(of: assignment).first(where: { $0.kind == kind }) else {
            Terminal.error(
                "blackboard manifest \(command): no \(kind.rawValue) manifest of \(assignment) (it is made when the "
                    + "deadline passes or the assignment is closed, while blackboard serve runs; see blackboard "
                    + "manifest list)")
            throw ExitCode(1)
        }
        return manifest
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the manifests made.")

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let manifests = try await store.with("blackboard manifest list") { try await $0.manifests(of: nil) }
            Terminal.line("ASSIGNMENT            KIND     RECEIPTS  TIMESTAMPED BY CUHK AT    ROOT (first 16)")
            for manifest in manifests {
                let document = try? SignedManifest.document(of: manifest.bundle.signedManifest)
                Terminal.line(
                    [
                        manifest.assignment.padded(to: 20), manifest.kind.rawValue.padded(to: 7),
                        String(manifest.bundle.leaves.count).padded(to: 8),
                        ReceiptDocument.preciseTimestamp(manifest.timestampedAt).padded(to: 24),
                        String((document?.rootHash.hexString ?? "").prefix(16)),
                    ].joined(separator: "  "))
            }
            Terminal.line(Count.of(manifests.count, "manifest"))
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an assignment's manifest (its leaves and the signed head) to a file.",
            discussion: """
                The file is what GET /manifests/ASSIGNMENT serves: a line per leaf (the report number and the SHA-256 \
                of its signed receipt), then the signed manifest as a PEM block, which openssl cms -verify -inform PEM \
                reads. student verify-receipt RECEIPT --manifest FILE checks a receipt against it; blackboard manifest \
                verify FILE checks it with cuhk.cer alone. An existing file is never replaced.
                """)

        @OptionGroup var store: StoreOptions

        @Argument(help: "The assignment.")
        var assignment: String

        @Flag(help: "The late manifest (made when the assignment is closed) instead of the on-time one.")
        var late = false

        @Option(help: "The file to write.")
        var out: String

        func run() async throws {
            let manifest = try await store.with("blackboard manifest export") {
                try await ManifestCommand.stored(assignment, late: late, in: $0, command: "export")
            }
            do {
                try SecureFile.write(manifest.bundle.bytes, to: out, mode: SecureFile.publicMode, replacing: false)
            } catch {
                Terminal.error("blackboard manifest export: \(error)")
                throw ExitCode(1)
            }
            Terminal.line(
                "The \(manifest.kind.rawValue) manifest of \(assignment) (\(Count.of(manifest.bundle.leaves.count, "receipt")), "
                    + "timestamped by CUHK at \(ReceiptDocument.preciseTimestamp(manifest.timestampedAt))) written to "
                    + out)
        }
    }

    struct Proof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the inclusion proof of a report's receipt in an assignment's manifest (RFC 9162).")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The assignment.")
        var assignment: String

        @Option(help: "The report number.")
        var report: UInt64

        @Flag(help: "In the late manifest instead of the on-time one.")
        var late = false

        func run() async throws {
            let manifest = try await store.with("blackboard manifest proof") {
                try await ManifestCommand.stored(assignment, late: late, in: $0, command: "proof")
            }
            let leaves = manifest.bundle.leaves
            guard let index = leaves.firstIndex(where: { $0.report == report }) else {
                Terminal.error(
                    "blackboard manifest proof: report \(report) is not in the \(manifest.kind.rawValue) manifest of "
                        + "\(assignment) (\(Count.of(leaves.count, "receipt")))")
                throw ExitCode(1)
            }
            let hashes = leaves.map { MerkleTree.leafHash($0.data) }
            guard let proof = InclusionProof(leafAt: index, leafHashes: hashes) else { throw ExitCode(1) }
            let root = MerkleTree.rootHash(leafHashes: hashes)
            Terminal.line(
                "Report \(report) is leaf \(index) of \(leaves.count) in the \(manifest.kind.rawValue) manifest of "
                    + "\(assignment)")
            Terminal.line("  leaf data (SHA-256 of its signed receipt)  \(leaves[index].data.hexString)")
            Terminal.line("  leaf hash SHA-256(0x00 || data)             \(hashes[index].hexString)")
            Terminal.line("  root                                        \(root.hexString)")
            Terminal.line("  audit path, from the leaf up (\(Count.of(proof.path.count, "hash", plural: "hashes"))):")
            for hash in proof.path { Terminal.line("    \(hash.hexString)") }
            Terminal.line(
                proof.verify(leafHash: hashes[index], rootHash: root)
                    ? "  the path leads from the leaf to the root (RFC 9162 section 2.1.3.2)"
                    : "  the path does NOT lead to the root")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a manifest file with CUHK's root alone: signature, CUHK's timestamp, and its leaves.",
            discussion: """
                Checks that the head is signed by Blackboard's certificate (chaining to the root, valid at CUHK's \
                time), that CUHK timestamped the signature, that an on-time manifest was timestamped at most 5 minutes \
                after the deadline, and that the leaves listed make the signed root. Exit code 0 when it verifies, 8 \
                when it does not, 1 when a file cannot be read.
                """)

        @Argument(help: "The manifest file (blackboard manifest export, or GET /manifests/ASSIGNMENT).")
        var file: String

        @Option(help: "The root certificate to trust (default: cuhk.cer in --dir).")
        var rootCert: String?

        @Option(help: "Directory of cuhk.cer.")
        var dir: String = "."

        @Option(help: "The service name Blackboard's certificate must carry.")
        var blackboardName: String = "blackboard"

        func run() async throws {
            let root: Certificate
            let bundle: ManifestBundle
            do {
                root = try RootFile.load(rootCert ?? SecureFile.join(dir, RootFile.name), required: true)!
                guard let bytes = try SecureFile.readBytes(at: file, limit: ManifestBundle.maximumSize) else {
                    Terminal.error("blackboard manifest verify: \(file) does not exist")
                    throw ExitCode(1)
                }
                bundle = try ManifestBundle(parsing: bytes)
            } catch let error as ManifestError {
                Terminal.error("blackboard manifest verify: \(file) is not a deadline manifest: \(error)")
                throw ExitCode(8)
            } catch let error as ExitCode {
                throw error
            } catch {
                Terminal.error("blackboard manifest verify: \(error)")
                throw ExitCode(1)
            }
            let verified: SignedManifest.VerifiedManifest
            do {
                verified = try await SignedManifest.verify(
                    bundle.signedManifest, root: root, blackboardName: blackboardName,
                    evidence: .leaves(bundle.leafData), window: SignedManifest.timestampWindow)
            } catch {
                Terminal.error("blackboard manifest verify: \(error)")
                throw ExitCode(8)
            }
            let head = verified.document
            Terminal.line(
                "Manifest verified: the \(head.kind.rawValue) manifest of \(head.assignment), signed by "
                    + "\(blackboardName) (certificate serial \(verified.signer.serialNumber.hex)), which chains to the "
                    + "CUHK root \(root.sha256Fingerprint)")
            for (key, value) in head.fieldLines() { Terminal.line("  " + key.padded(to: 12) + value) }
            let delay = verified.timestampedAfterDeadline.map { delay in
                delay >= 0
                    ? "\(SignedManifest.describe(delay)) after the deadline"
                    : "\(SignedManifest.describe(delay)) before the deadline (the assignment was closed before it)"
            }
            Terminal.line(
                "Timestamped by CUHK at \(verified.timestamp.generationTimeText) (token serial "
                    + "\(verified.timestamp.serialHex))" + (delay.map { ", \($0)" } ?? "")
                    + (head.kind == .onTime && head.deadline != nil
                        ? "; within the \(SignedManifest.describe(SignedManifest.timestampWindow)) allowed" : ""))
            Terminal.line("Leaves: the \(bundle.leaves.count) listed make the signed root \(head.rootHash.hexString)")
        }
    }
}
