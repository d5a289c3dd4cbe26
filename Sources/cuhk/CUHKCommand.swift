import ArgumentParser
import CampusAuthority
import CampusPKI
import Foundation
import Logging
import NIOCore

@main
struct CUHKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cuhk",
        abstract: "CUHK, the certificate authority: keeps the root (step 0) and signs students' CSRs (step 2).",
        subcommands: [Serve.self, Init.self, Issued.self],
        defaultSubcommand: Serve.self
    )
}

struct DirectoryOptions: ParsableArguments {
    @Option(help: "Directory of cuhk.key, cuhk.cer and cuhk.db.")
    var dir: String = "."

    @Option(help: "RSA key size for a new root key.")
    var keySize: Int = 2048

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load or create the root, then issue certificates.")

    @OptionGroup var options: DirectoryOptions

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 9335

    @Option(help: "Validity of issued certificates, in days.")
    var validityDays: Int = 365

    @Option(help: "Smallest RSA key accepted in a CSR, in bits.")
    var minKeySize: Int = 2048

    @Option(help: "Largest request frame accepted, in bytes.")
    var maxFrameSize: Int = 64 * 1024

    @Option(help: "Seconds a client may stay silent before it is dropped.")
    var timeout: Int = 10

    @Option(help: "Most connections served at once.")
    var maxConnections: Int = 1024

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
        guard options.keySize >= 2048 else { throw ValidationError("--key-size must be at least 2048") }
        guard timeout > 0, maxFrameSize > 0, maxConnections > 0 else {
            throw ValidationError("--timeout, --max-frame-size and --max-connections must be positive")
        }
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: options.logLevel)
        let logger = Logger(label: "cuhk")
        let server: CUHKServer
        do {
            server = try CUHKServer(
                configuration: .init(
                    directory: options.dir,
                    rootKeySize: options.keySize,
                    host: host,
                    port: port,
                    issuing: .init(validityDays: validityDays, minimumKeyBits: minKeySize),
                    maximumFrameSize: maxFrameSize,
                    timeout: .seconds(Int64(timeout)),
                    maximumConnections: maxConnections
                ),
                logger: logger,
                reporter: Terminal.reporter()
            )
        } catch {
            Terminal.error("cuhk: \(error)")
            throw ExitCode(2)
        }
        try await ServiceRunner.run(server, listeningAddress: server.listeningAddress, logger: logger)
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create (or check) the root key and certificate, then exit.")

    @OptionGroup var options: DirectoryOptions

    func run() async throws {
        do {
            let (root, origin) = try RootAuthority.load(or: .init(directory: options.dir, keySize: options.keySize))
            let verb = origin == .created ? "created" : "already present"
            Terminal.line(
                "[Step 0] Root \(verb): \(root.certificate.subject), serial \(root.certificate.serialNumber.hex)")
        } catch {
            Terminal.error("cuhk init: \(error)")
            throw ExitCode(2)
        }
    }
}

struct Issued: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the certificates CUHK has issued.")

    @Option(help: "Directory of cuhk.db.")
    var dir: String = "."

    @Option(help: "Only this student's certificates.")
    var sid: String?

    func run() async throws {
        var studentID: StudentID?
        if let sid {
            guard let parsed = StudentID(sid) else { throw ValidationError("--sid must be exactly 10 digits") }
            studentID = parsed
        }
        let path = SecureFile.join(dir, SQLiteCertificateRegistry.fileName)
        guard SecureFile.exists(path) else {
            Terminal.error("cuhk issued: \(path) does not exist")
            throw ExitCode(2)
        }
        let registry = try SQLiteCertificateRegistry(path: path)
        let certificates = try await registry.certificates(for: studentID)
        let format = ISO8601DateFormatter()
        Terminal.line(
            "SERIAL                            SID         NOT BEFORE            NOT AFTER             ISSUED AT")
        for certificate in certificates {
            Terminal.line(
                [
                    certificate.serial, certificate.studentID.rawValue, format.string(from: certificate.notValidBefore),
                    format.string(from: certificate.notValidAfter), format.string(from: certificate.issuedAt),
                ].joined(separator: "  ")
            )
        }
        Terminal.line("\(certificates.count) certificate(s)")
    }
}
