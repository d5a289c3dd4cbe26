import ArgumentParser
import CampusCommandLine
import CampusPKI
import Foundation
import X509

struct VerifyReceipt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-receipt",
        abstract: "Check a receipt from Blackboard offline: its signature, the chain to CUHK's root, its fields.",
        discussion: """
            FILE is a receipt as Blackboard returns it: CMS SignedData in DER (PEM with BEGIN CMS or BEGIN PKCS7 \
            is read too). With --content, the report's content must have the receipt's size and SHA-256. \
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
    }
}
