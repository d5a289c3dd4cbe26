import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation
import Testing
import X509
import _CryptoExtras

/// A `cuhk` whose PostgreSQL goes away while it serves: `/readyz` fails and an enrollment is answered `server-busy`
/// (8), the process keeps running, and when the database is back both work again, without a restart.
///
/// It stops and starts a PostgreSQL server of its own (scripts/throwaway-postgres.sh), so the other tests' database
/// is not disturbed; it runs where the shared-database tests run and PostgreSQL's server programs are installed.
@Suite(.enabled(if: SharedDatabase.runs && LostDatabase.serverInstalled, "no PostgreSQL server to stop and start"))
struct LostDatabaseProgramTests {
    @Test func aCUHKWhoseDatabaseIsLostAnswersBusyAndRecovers() async throws {
        let server = try await LostDatabase.start()
        defer { server.remove() }
        let url = try server.url()
        let directory = try temporaryDirectory()
        #expect(try await Program.cuhk.run(["init", "--database", url], in: directory).status == 0)
        try SecureFile.write(
            "sid,name\n1155000001,Ada\n", to: SecureFile.join(directory, "r.csv"), mode: 0o644, replacing: true)
        #expect(
            try await Program.cuhk.run(["roster", "import", "r.csv", "--database", url], in: directory).status == 0)
        let issued = try await Program.cuhk.run(
            ["codes", "issue", "--sid", "1155000001", "--json", "--database", url], in: directory)
        let slips = try #require(
            try JSONSerialization.jsonObject(with: Data(issued.output.utf8)) as? [[String: Any]], "\(issued.all)")
        let text = try #require(slips.first?["code"] as? String)
        let code = try #require(EnrollmentCode(text))

        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--port", "0", "--ocsp-port", "0", "--database", url], in: directory)
        defer { cuhk.signal(SIGKILL) }
        let address = try await cuhk.address()
        let dashboard = try #require(
            cuhk.output.split(separator: "\n").first { $0.hasPrefix("dashboard at ") }?.dropFirst("dashboard at ".count)
        )
        #expect(try await MetricsTests.get(dashboard + "readyz").status == 200)

        try await server.stop()
        #expect(try await LostDatabase.eventually { try await MetricsTests.get(dashboard + "readyz").status == 503 })
        let student = StudentID("1155000001")!
        await #expect {
            _ = try await LostDatabase.enroll(student, code: code, in: directory, at: address)
        } throws: { error in
            guard case .refusedByCUHK(let refusal) = error as? StudentError else { return false }
            return refusal.code == .serverBusy
        }
        #expect(cuhk.process.isRunning, "cuhk ended when its database went away: \(cuhk.errorOutput)")

        try await server.startAgain()
        #expect(try await LostDatabase.eventually { try await MetricsTests.get(dashboard + "readyz").status == 200 })
        let credentials = try await LostDatabase.enroll(student, code: code, in: directory, at: address)
        #expect(credentials.certificate.subject.description.contains("1155000001"))
        #expect(cuhk.errorOutput.contains("cannot be reached"), "the log says why it was busy")
    }
}

/// A PostgreSQL server of a test's own, started and stopped with scripts/throwaway-postgres.sh.
struct LostDatabase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/throwaway-postgres.sh")
        .path
    static let serverInstalled =
        ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).contains {
            FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb")
        }

    let directory: String
    let line: String

    /// Under /tmp, which `nobody` may cross (the server runs as `nobody` when the tests run as root).
    static func start() async throws -> LostDatabase {
        var template = Array("/tmp/campuspki-pg-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw CampusError(.internalError, "mkdtemp failed") }
        let directory = String(cString: path)
        let (termination, output) = try await run("start", directory)
        guard termination == .exited(0) else {
            throw CampusError(.internalError, "throwaway-postgres.sh start failed: \(output)")
        }
        return LostDatabase(directory: directory, line: output)
    }

    func url() throws -> String {
        let prefix = "CAMPUSPKI_TEST_DATABASE="
        let found = line.split(separator: "\n").first { $0.hasPrefix(prefix) }?.dropFirst(prefix.count)
        return String(try #require(found, "\(line)"))
    }

    func stop() async throws {
        let (termination, output) = try await Self.run("stop", directory)
        #expect(termination == .exited(0), "\(output)")
    }

    func startAgain() async throws {
        let (termination, output) = try await Self.run("start-again", directory)
        #expect(termination == .exited(0), "\(output)")
    }

    /// Stops the server, waiting for it, and removes its directory.
    func remove() {
        _ = try? ChildProcess.capture("/bin/bash", arguments: [Self.script, "stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs the script without holding one of the test process's few threads while initdb or pg_ctl works.
    static func run(_ command: String, _ directory: String) async throws -> (ChildProcess.Termination, String) {
        let output = directory + ".out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess.launch(
            "/bin/bash", arguments: [script, command, directory], standardOutput: .file(output),
            standardError: .standardOutput)
        let termination = await child.wait()
        return (termination, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// Whether `condition` holds within a minute, asked every 200 ms.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    static func enroll(_ studentID: StudentID, code: EnrollmentCode, in directory: String, at address: ServerAddress)
        async throws -> StudentCredentials
    {
        try await SharedDatabase.enroll(
            studentID, code: code, key: TestKeys.pool[2], under: SecureFile.join(directory, "s-\(studentID)"),
            at: address, root: SecureFile.join(directory, "cuhk.cer"))
    }
}
