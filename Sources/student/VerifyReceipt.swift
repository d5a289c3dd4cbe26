import ArgumentParser
import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation
import X509

struct VerifyReceipt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-receipt",
        abstract:
            "Check a receipt from Blackboard: its signature, the chain to CUHK's root, its fields, its revocation.",
        discussion: """
            FILE is a receipt as Blackboard returns it: CMS SignedData in DER (PEM with BEGIN CMS or BEGIN PKCS7 \
            is read too). With --content, the report's content must have the receipt's size and SHA-256. \
            A receipt with CUHK's timestamp (timestamp: cuhk) is checked against it: the token must verify against \
            the root, be over this receipt's report, and give the receipt's commit time and status (on time only \
            if CUHK's time is at or before the deadline). With --manifest, the receipt must be in that deadline \
            manifest, which must be signed by Blackboard and timestamped by CUHK within 5 minutes of the deadline. \
            Blackboard's certificate must be valid now: the receipt's signature is Blackboard's, and a key kept after \
            its certificate expired could sign anything. When CUHK's OCSP responder can be reached (the one named in \
            Blackboard's certificate, or --ca), a revoked certificate fails the receipt; when it cannot, the \
            receipt is checked without it and the output says so. \
            OpenSSL checks the same file with \
            `openssl cms -verify -inform DER -in FILE -CAfile cuhk.cer -purpose any`: only its exit status 0 \
            ("CMS Verification successful") means the receipt verified; it prints the text either way.
            """
    )

    @Argument(help: "The receipt file.")
    var file: String

    @Option(help: "The report's content, to compare with the receipt's size and SHA-256.")
    var content: String?

    @Option(help: "Root certificate to trust (default: cuhk.cer in --dir).")
    var rootCert: String?

    @Option(help: "Directory of the pinned root cuhk.cer.")
    var dir: String = "."

    @Option(help: "The service name Blackboard's certificate must carry.")
    var blackboardName: String = "blackboard"

    @Option(
        help: ArgumentHelp(
            "CUHK's OCSP responder, to ask whether Blackboard's certificate was revoked: HOST:PORT of CUHK's HTTP "
                + "port (9336 by default), or a URL.",
            discussion: "Default: the responder Blackboard's certificate names."))
    var ca: String?

    @Flag(help: "Do not ask CUHK whether Blackboard's certificate was revoked.")
    var offline = false

    @Option(
        help: ArgumentHelp(
            "A deadline manifest (blackboard manifest export, or GET /manifests/ASSIGNMENT on Blackboard's web "
                + "interface): check that the receipt is in it.",
            discussion: "The manifest must be Blackboard's, signed and timestamped by CUHK, and an on-time one within "
                + "5 minutes after the deadline; its leaves must make its tree."))
    var manifest: String?

    @Option(
        help: ArgumentHelp(
            "Write CUHK's timestamp token (DER) to FILE, for openssl ts -verify -token_in.",
            discussion: "The receipt must carry one (timestamp: cuhk). Never replaces a file."))
    var exportTimestamp: String?

    @Option(
        help: ArgumentHelp(
            "Write the bytes CUHK timestamped (the receipt's timestamped-report text) to FILE, for openssl ts -verify "
                + "-data.",
            discussion: "Never replaces a file."))
    var exportTimestampData: String?

    func validate() throws {
        if let ca, ReceiptSignerRevocation.responderURL(fromArgument: ca) == nil {
            throw ValidationError(
                "--ca \"\(ControlCharacters.escaped(ca))\" is neither HOST:PORT nor a URL of CUHK's OCSP responder")
        }
    }

    /// The root, the receipt's DER and the content, or exit 1 saying which file cannot be used.
    func readInputs() throws -> (Certificate, [UInt8], [UInt8]?) {
        do {
            let rootPath = rootCert ?? SecureFile.join(dir, RootFile.name)
            let root: Certificate
            do {
                // A missing root is an error here: a receipt cannot be checked against nothing.
                root = try RootFile.load(rootPath, required: true)!
            } catch let error as RootFile.LoadError {
                throw ReceiptError.unreadable(path: error.path, reason: "the root certificate \(error.problem)")
            }
            let receipt = try SignedReceipt.der(fromFile: try SignedReceipt.readFile(file))
            let content = try content.map { path throws(ReceiptError) in try SignedReceipt.readFile(path, limit: .max) }
            return (root, receipt, content)
        } catch let error as ReceiptError {
            Terminal.error("student verify-receipt: \(error)")
            throw ExitCode(1)
        }
    }

    func run() async throws {
        let (root, receipt, contentBytes) = try readInputs()
        let verified: SignedReceipt.VerifiedReceipt
        do {
            verified = try await SignedReceipt.verify(
                receipt, root: root, blackboardName: blackboardName, content: contentBytes)
        } catch {
            Terminal.error("student verify-receipt: \(error)")
            throw ExitCode(8)
        }

        Terminal.line(
            "Receipt verified: signed by \(verified.signerName) (certificate serial \(verified.signer.serialNumber.hex)), "
                + "which chains to the CUHK root \(root.sha256Fingerprint)")
        let fields = verified.document.summaryFieldLines()
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        for (key, value) in fields {
            Terminal.line("  " + key.padded(to: width) + value)
        }
        if contentBytes != nil {
            Terminal.line("content matches: sha256 \(verified.document.contentSHA256.hexString)")
        }
        try await checkRevocation(of: verified.signer, root: root)
        for line in Self.timeLines(verified) { Terminal.line(line) }
        if let manifest {
            try await checkManifest(manifest, receipt: receipt, root: root)
        }
        try export(verified.document)
    }

    /// What the receipt proves about time: CUHK's timestamp, or that the time is Blackboard's claim.
    static func timeLines(_ verified: SignedReceipt.VerifiedReceipt) -> [String] {
        let document = verified.document
        let committed = ReceiptDocument.timestamp(document.committedAt)
        guard let timestamp = verified.timestamp else {
            let why =
                document.timestamp == .withoutTimestamp
                ? " (Blackboard signed it without one: CUHK could not be reached, or it asks none)" : ""
            return [
                "Time: no CUHK timestamp: the time is Blackboard's claim only\(why). Committed \(committed) as "
                    + "Blackboard states it: its signature covers the time, but only Blackboard vouches for it"
            ]
        }
        let status =
            switch (document.deadline, document.isLate) {
            case (.none, _): "no deadline"
            case (.some(let deadline), false):
                "on time: at or before the deadline \(ReceiptDocument.timestamp(deadline))"
            case (.some(let deadline), true): "late: after the deadline \(ReceiptDocument.timestamp(deadline))"
            }
        return [
            "Time: timestamped by CUHK at \(timestamp.generationTimeText) (token serial \(timestamp.serialHex), "
                + "accuracy \(timestamp.accuracy.map { "\($0)" } ?? "unstated"), TSA certificate serial "
                + "\(timestamp.signer.serialNumber.hex), which chains to the CUHK root); the token covers this "
                + "receipt's report, and the receipt's commit time \(committed) is CUHK's; \(status)"
        ]
    }

    /// Checks that the receipt is in the manifest; exits with 8 when it is not, or the manifest does not verify.
    func checkManifest(_ path: String, receipt: [UInt8], root: Certificate) async throws {
        let bundle: ManifestBundle
        do {
            guard let bytes = try SecureFile.readBytes(at: path, limit: ManifestBundle.maximumSize) else {
                Terminal.error("student verify-receipt: \(path) does not exist")
                throw ExitCode(1)
            }
            bundle = try ManifestBundle(parsing: bytes)
        } catch let error as ManifestError {
            Terminal.error("student verify-receipt: \(path) is not a deadline manifest: \(error)")
            throw ExitCode(8)
        } catch let error as ExitCode {
            throw error
        } catch {
            Terminal.error("student verify-receipt: \(path) cannot be read: \(error)")
            throw ExitCode(1)
        }
        let verified: SignedManifest.VerifiedManifest
        do {
            verified = try await SignedManifest.verify(
                bundle.signedManifest, root: root, blackboardName: blackboardName, receipt: receipt,
                evidence: .leaves(bundle.leafData), window: SignedManifest.timestampWindow)
        } catch .notIncluded {
            let document = try? SignedReceipt.document(of: receipt)
            Terminal.error(
                "student verify-receipt: the receipt says \(document?.isLate == true ? "late" : "on time"), but it is "
                    + "missing from this signed and timestamped manifest of \(document?.assignment ?? "its assignment"), "
                    + "which lists \(Count.of(bundle.leaves.count, "receipt")): Blackboard left it out")
            throw ExitCode(8)
        } catch {
            Terminal.error("student verify-receipt: \(error)")
            throw ExitCode(8)
        }
        let head = verified.document
        let delay = verified.timestampedAfterDeadline.map { delay in
            delay >= 0
                ? ", \(SignedManifest.describe(delay)) after the deadline (at most \(SignedManifest.describe(SignedManifest.timestampWindow)) allowed)"
                : ", \(SignedManifest.describe(delay)) before the deadline (the assignment was closed before it)"
        }
        Terminal.line(
            "Manifest: the \(head.kind.rawValue) manifest of \(head.assignment) (deadline "
                + "\(head.deadline.map(ReceiptDocument.timestamp) ?? "none")) lists \(Count.of(Int(head.treeSize), "receipt")) "
                + "with root \(head.rootHash.hexString); signed by \(blackboardName) (certificate serial "
                + "\(verified.signer.serialNumber.hex)) and timestamped by CUHK at "
                + "\(verified.timestamp.generationTimeText)\(delay ?? "")")
        Terminal.line(
            "Manifest: this receipt is leaf \(verified.receiptIndex.map(String.init) ?? "?") of \(head.treeSize); the "
                + "leaves make the signed root")
    }

    /// Writes the token and the timestamped bytes, as asked; exits with 1 when a file cannot be written.
    func export(_ document: ReceiptDocument) throws {
        guard exportTimestamp != nil || exportTimestampData != nil else { return }
        guard case .cuhk(let token) = document.timestamp else {
            Terminal.error("student verify-receipt: the receipt carries no CUHK timestamp to export")
            throw ExitCode(1)
        }
        let writes = [
            (exportTimestamp, token, "CUHK's timestamp token"),
            (exportTimestampData, TimestampedReport(receipt: document).canonicalBytes, "The timestamped bytes"),
        ]
        for case (let path?, let bytes, let what) in writes {
            do {
                try SecureFile.write(bytes, to: path, mode: SecureFile.publicMode, replacing: false)
            } catch {
                Terminal.error("student verify-receipt: \(error)")
                throw ExitCode(1)
            }
            Terminal.line("\(what) written to \(path) (\(Count.of(bytes.count, "byte")))")
        }
    }

    /// Asks CUHK about Blackboard's certificate; exits with 8 when it is revoked or unknown to CUHK.
    func checkRevocation(of signer: Certificate, root: Certificate) async throws {
        let serial = signer.serialNumber.hex
        guard !offline else {
            Terminal.line(
                "Revocation: not checked (--offline): whether CUHK revoked Blackboard's certificate is unknown")
            return
        }
        let outcome = await ReceiptSignerRevocation.check(
            signer: signer, root: root, responder: ca.flatMap(ReceiptSignerRevocation.responderURL(fromArgument:)))
        switch outcome {
        case .good(let responder, let thisUpdate):
            Terminal.line(
                "Revocation: not revoked, says CUHK's OCSP responder at \(responder) (its signed answer of "
                    + "\(ReceiptDocument.timestamp(thisUpdate)))")
        case .revoked(_, let time, let reason):
            let why = reason.map { " (\($0))" } ?? ""
            let error = ReceiptError.revokedSigner(
                "CUHK revoked Blackboard's certificate (serial \(serial)) at \(ReceiptDocument.timestamp(time))\(why), "
                    + "so receipts signed with it prove nothing")
            Terminal.error("student verify-receipt: \(error)")
            throw ExitCode(8)
        case .unknown(let responder):
            let error = ReceiptError.revokedSigner(
                "CUHK's OCSP responder at \(responder) does not know Blackboard's certificate (serial \(serial)): this "
                    + "CUHK did not issue it")
            Terminal.error("student verify-receipt: \(error)")
            throw ExitCode(8)
        case .notChecked(let reason):
            Terminal.line(
                "Revocation: not checked: \(reason). Whether CUHK revoked Blackboard's certificate is unknown; the "
                    + "other checks passed")
        }
    }
}
