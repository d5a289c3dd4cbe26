import CampusCommandLine
import CampusPKI
import Foundation

/// The real peers CampusPKI is compared with in the same run (`campus-bench --peers`, `scripts/compare-peers.sh`,
/// docs/PERFORMANCE.md): `cfssl serve` issuing certificates, and two TLS 1.3 mutual-TLS servers, Go's crypto/tls and
/// `openssl s_server`, making full handshakes with the key types of session version 2 (an ECDSA P-256 server
/// certificate, an RSA-2048 client certificate, X25519).
///
/// The Go program in `Benchmarks/peers` (standard library only) writes the certificates and the request, is the Go
/// server and client, and drives cfssl. Each peer is a child process whose CPU time is read from `/proc` around
/// the measured run, as CUHK's and Blackboard's are.
///
/// Unchecked: every stored property is set once in `init`.
final class PeerBench: @unchecked Sendable {
    /// A program a peer needs, and the Debian package it comes from.
    struct Tool {
        var command: String
        var package: String
        var purpose: String
    }

    static let tools = [
        Tool(
            command: "go", package: "golang-go",
            purpose: "builds the Go peer, which also writes the certificates and drives cfssl; no peer runs without it"),
        Tool(command: "cfssl", package: "golang-cfssl", purpose: "the issuing peer, `cfssl serve`"),
        Tool(command: "openssl", package: "openssl", purpose: "the OpenSSL handshake peer, `openssl s_server`"),
        Tool(
            command: "sqlite3", package: "sqlite3",
            purpose: "creates cfssl's certificate database, for the issuing peer that stores what it signs"),
    ]

    /// One peer's measured run.
    struct Run {
        var operations: Int
        /// Wall time of the run.
        var seconds: Double
        /// The peer server's user + system CPU over the run.
        var serverCPU: Double
        var rate: Double { Double(operations) / seconds }
        var cpuPerOperation: Double { serverCPU / Double(operations) }
    }

    let directory: String
    /// The Go peer, built for this run.
    let program: String
    /// Written by `peers certs`.
    let certificates: String
    /// The tools found in `PATH`.
    let installed: Set<String>

    /// Builds the Go peer and writes its certificates; nil (with the reason given to `report`) when Go is missing.
    static func prepare(in directory: String, report: (String) -> Void) async throws -> PeerBench? {
        let installed = Set(tools.map(\.command).filter { ChildCommand.find($0) != nil })
        for tool in tools where !installed.contains(tool.command) {
            report("peer missing: \(tool.command) (\(tool.purpose)); apt-get install \(tool.package)")
        }
        guard installed.contains("go") else { return nil }
        guard let root = ChildServer.packageRoot else {
            report("peers: the Go peer's source (Benchmarks/peers) is not here; run campus-bench from its package")
            return nil
        }
        try SecureFile.createDirectory(directory)
        let program = SecureFile.join(directory, "peers")
        // Standard library only: nothing is fetched, and no newer toolchain is downloaded.
        _ = try await ChildCommand(
            command: ["go", "build", "-o", program, "."],
            environment: ["GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"],
            directory: root.appendingPathComponent("Benchmarks/peers").path
        ).output(outputPath: SecureFile.join(directory, "go-build.out"))
        let certificates = SecureFile.join(directory, "certs")
        _ = try await ChildCommand(command: [program, "certs", certificates]).output(
            outputPath: SecureFile.join(directory, "certs.out"))
        return PeerBench(directory: directory, program: program, certificates: certificates, installed: installed)
    }

    private init(directory: String, program: String, certificates: String, installed: Set<String>) {
        self.directory = directory
        self.program = program
        self.certificates = certificates
        self.installed = installed
    }

    private func certificate(_ name: String) -> String { SecureFile.join(certificates, name) }

    // MARK: Issuing

    /// `cfssl serve` with the RSA-2048 root signing the same RSA-2048 request `requests` times from `concurrency`
    /// clients, each request on a new connection; with `database`, cfssl also stores each certificate in SQLite.
    func cfssl(requests: Int, concurrency: Int, database: Bool) async throws -> Run? {
        guard installed.contains("cfssl"), !database || installed.contains("sqlite3") else { return nil }
        let name = database ? "cfssl-sqlite" : "cfssl"
        var command = [
            "cfssl", "serve", "-ca", certificate("ca.pem"), "-ca-key", certificate("ca-key.pem"), "-address",
            "127.0.0.1", "-port", String(try FreePort.make()),
        ]
        if database {
            command += ["-db-config", try makeCertificateDatabase()]
        }
        let marker = "Now listening on "
        let server = try ChildServer(name: name, command: command, directory: directory) { line in
            line.range(of: marker).flatMap { ServerAddress(String(line[$0.upperBound...])) }
        }
        defer { server.stop() }
        let load =
            [program, "cfssl-load", "-url", "http://\(server.address)/api/v1/cfssl/sign", "-csr"]
            + [certificate("request.csr")]
        _ = try await drive(load + ["-n", "8", "-c", "1"], name: "\(name)-warm-up")
        return try await measure(server) {
            try await drive(load + ["-n", String(requests), "-c", String(concurrency)], name: "\(name)-load")
        }
    }

    /// cfssl's certificate database (its `certdb` schema for SQLite), and the configuration naming it.
    private func makeCertificateDatabase() throws -> String {
        let database = SecureFile.join(directory, "cfssl-certdb.db")
        try? FileManager.default.removeItem(atPath: database)
        let schema = """
            CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
              ca_label blob, status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp,
              pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));
            CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
              body blob NOT NULL, expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier),
              FOREIGN KEY(serial_number, authority_key_identifier)
                REFERENCES certificates(serial_number, authority_key_identifier));
            """
        let create = try ChildCommand.start(["sqlite3", database, schema])
        guard create.waitBlocking() == .exited(0) else { throw BenchError("sqlite3 could not create \(database)") }
        let configuration = SecureFile.join(directory, "cfssl-db.json")
        let text = #"{"driver": "sqlite3", "data_source": "\#(database)"}"#
        try SecureFile.write(text, to: configuration, mode: 0o600, replacing: true)
        return configuration
    }

    // MARK: Handshakes

    /// The Go crypto/tls TLS 1.3 mTLS server, `handshakes` full handshakes from `concurrency` Go clients.
    func goTLS(handshakes: Int, concurrency: Int) async throws -> Run {
        let server = try ChildServer(
            name: "go-tls-server", command: [program, "tls-server", "-certs", certificates], directory: directory
        ) { line in
            line.hasPrefix("listening on ") ? ServerAddress(String(line.dropFirst("listening on ".count))) : nil
        }
        defer { server.stop() }
        let client = [program, "tls-client", "-certs", certificates, "-addr", server.address.description]
        // Warm up, as Blackboard is warmed up before its run.
        _ = try await drive(client + ["-n", "20", "-c", "1"], name: "go-tls-warm-up")
        return try await measure(server) {
            try await drive(
                client + ["-n", String(handshakes), "-c", String(concurrency)], name: "go-tls-client")
        }
    }

    /// `openssl s_server` TLS 1.3 mTLS with the same certificates, and `clients` concurrent `openssl s_time` clients
    /// making new handshakes (no resumption) for `seconds`, each fetching a 2-byte page.
    func openSSL(seconds: Int, clients: Int) async throws -> Run? {
        guard installed.contains("openssl") else { return nil }
        let pages = SecureFile.join(directory, "openssl-pages")
        try SecureFile.createDirectory(pages)
        try SecureFile.write("1\n", to: SecureFile.join(pages, "ok"), mode: 0o644, replacing: true)
        let server = try ChildServer(
            name: "openssl-s_server",
            command: [
                "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", certificate("server.pem"), "-key",
                certificate("server-key.pem"), "-CAfile", certificate("ca.pem"), "-Verify", "1",
                "-verify_return_error", "-verify_quiet", "-tls1_3", "-groups", "X25519", "-num_tickets", "0", "-WWW",
            ],
            directory: directory, workingDirectory: pages
        ) { line in
            line.hasPrefix("ACCEPT ") ? ServerAddress(String(line.dropFirst("ACCEPT ".count))) : nil
        }
        defer { server.stop() }
        let client = [
            "openssl", "s_time", "-connect", server.address.description, "-new", "-tls1_3", "-cert",
            certificate("client.pem"), "-key", certificate("client-key.pem"), "-CAfile", certificate("ca.pem"),
            "-www", "/ok", "-time",
        ]
        return try await measure(server) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<clients {
                    group.addTask {
                        let output = try await ChildCommand(command: client + [String(seconds)]).output(
                            outputPath: SecureFile.join(self.directory, "openssl-s_time-\(index).out"))
                        // "353 connections in 0.39s; 905.13 connections/user sec, bytes read 2948256"
                        guard
                            let line = output.split(separator: "\n").first(where: { $0.contains(" connections in ") }),
                            let count = Int(line.prefix { $0.isNumber }), count > 0
                        else { throw BenchError("openssl s_time made no connection: \(output.suffix(300))") }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
        }
    }

    // MARK: Running

    /// Runs one of the Go peer's load clients, which prints `{"operations": N, "failures": 0, ...}` and fails if
    /// any operation failed; returns N.
    private func drive(_ command: [String], name: String) async throws -> Int {
        let output = try await ChildCommand(command: command).output(
            outputPath: SecureFile.join(directory, "\(name).out"))
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let summary = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let operations = summary["operations"] as? Int
        else { throw BenchError("\(name) printed no summary: \(output.suffix(300))") }
        return operations
    }

    /// Times `work` and reads the server's CPU around it.
    private func measure(_ server: ChildServer, _ work: () async throws -> Int) async throws -> Run {
        let cpuBefore = server.cpuSeconds
        let start = now()
        let operations = try await work()
        let elapsed = now() - start
        // As for Blackboard: connections that just ended are closed by the server asynchronously.
        try await Task.sleep(for: .milliseconds(300))
        return Run(operations: operations, seconds: elapsed, serverCPU: server.cpuSeconds - cpuBefore)
    }
}
