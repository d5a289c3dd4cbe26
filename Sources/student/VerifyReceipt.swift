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
            Blackboard's certificate must be valid now: without a timestamp from CUHK, a receipt's time cannot be \
            trusted once that certificate has expired. When CUHK's OCSP responder can be reached (the one named in \
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
        let fields = verified.document.fieldLines()
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        for (key, value) in fields {
            Terminal.line("  " + key.padded(to: width) + value)
        }
        if contentBytes != nil {
            Terminal.line("content matches: sha256 \(verified.document.contentSHA256.hexString)")
        }
        try await checkRevocation(of: verified.signer, root: root)
        Terminal.line(
            "Time: committed \(ReceiptDocument.timestamp(verified.document.committedAt)) as Blackboard states it: its "
                + "signature covers the time, but only Blackboard vouches for it (a receipt carries no timestamp "
                + "from CUHK)")
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
