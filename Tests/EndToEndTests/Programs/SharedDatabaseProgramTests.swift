import CampusPKI
import CampusStudent
import Foundation
import Logging
import Synchronization
import Testing
import X509
import _CryptoExtras

@testable import CampusPostgres

/// Two `cuhk` and two `blackboard` processes on one PostgreSQL database (`--database`), as a department runs them
/// behind one address: a code raced through both CUHKs pays for one certificate, a revocation made with `cuhk revoke`
/// is answered by the other instance's responder, reports uploaded through both Blackboards have unique numbers,
/// and the database's password never shows in any output.
///
/// Runs when `CAMPUSPKI_TEST_DATABASE` names a reachable PostgreSQL (or `CAMPUSPKI_REQUIRE_POSTGRES` is set); each
/// run makes a database of its own in it and drops it afterwards.
@Suite(.enabled(if: SharedDatabase.runs, "no PostgreSQL (CAMPUSPKI_TEST_DATABASE)"))
struct SharedDatabaseProgramTests {
    static let students = ["1155000001", "1155000002", "1155000003"]

    @Test func twoInstancesOfEachServerShareOneDatabase() async throws {
        try await SharedDatabase.withFreshDatabase { url in
            let password = "pw-" + SessionKeySchedule.randomBytes(6).hexString
            // The test user logs in without a password; one in the URL must still never be shown.
            let database = "postgres://\(url.user):\(password)@\(url.host):\(url.port)/\(url.database)"
            let first = try temporaryDirectory()
            var outputs: [String] = []
            func cuhk(_ arguments: [String], in directory: String = first) async throws -> Program.Outcome {
                let outcome = try await Program.cuhk.run(arguments + ["--database", database], in: directory)
                outputs.append(outcome.all)
                return outcome
            }

            // A CUHK on a shared database never makes a root: it says what to run.
            let noRoot = try await cuhk(["--port", "0", "--ocsp-port", "0"])
            #expect(noRoot.status == 2 && noRoot.errorOutput.contains("cuhk init"), "\(noRoot.all)")
            #expect(!SecureFile.exists(SecureFile.join(first, "cuhk.key")))
            #expect(try await cuhk(["init"]).status == 0)
            try SecureFile.write(
                "sid,name\n" + Self.students.map { "\($0),Student \($0)\n" }.joined(),
                to: SecureFile.join(first, "r.csv"), mode: 0o644, replacing: true)
            #expect(try await cuhk(["roster", "import", "r.csv"]).status == 0)
            let issued = try await cuhk(["codes", "issue", "--all-unenrolled", "--json"])
            let slips = try #require(
                try JSONSerialization.jsonObject(with: Data(issued.output.utf8)) as? [[String: Any]], "\(issued.all)")
            var codes: [String: EnrollmentCode] = [:]
            for slip in slips {
                let sid = try #require(slip["sid"] as? String)
                codes[sid] = EnrollmentCode(try #require(slip["code"] as? String))
            }
            #expect(codes.count == 3)

            // The second machine has a copy of the directory's files, not of the database.
            let second = try temporaryDirectory()
            for name in ["cuhk.cer", "cuhk.key", "cuhk-tsa.cer", "cuhk-tsa.key", "blackboard.cer", "blackboard.key"] {
                try FileManager.default.copyItem(
                    atPath: SecureFile.join(first, name), toPath: SecureFile.join(second, name))
            }
            let serve = Program.patientCUHK + ["--port", "0", "--ocsp-port", "0", "--database", database]
            let cuhks = [try Program.cuhk.start(serve, in: first), try Program.cuhk.start(serve, in: second)]
            defer { for process in cuhks { process.signal(SIGKILL) } }
            let cuhkAddresses = [try await cuhks[0].address(), try await cuhks[1].address()]
            let ocsp = try await cuhks[1].address(announcedBy: "ocsp listening on ")
            let rootPath = SecureFile.join(first, "cuhk.cer")

            // One code, eight requests with eight keys, four through each CUHK: one certificate.
            let racer = StudentID(Self.students[0])!
            let keys = try await SharedDatabase.keys(8)
            let code = try #require(codes[racer.rawValue])
            let outcomes = await withTaskGroup(of: String.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        do {
                            let directory = SecureFile.join(first, "racer-\(index)")
                            _ = try await SharedDatabase.enroll(
                                racer, code: code, key: keys[index], under: directory, at: cuhkAddresses[index % 2],
                                root: rootPath)
                            return "issued"
                        } catch StudentError.refusedByCUHK(let refusal) {
                            return "refused \(refusal.code)"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                var outcomes: [String] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == "issued" }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { $0.hasPrefix("refused") }.count == 7, "\(outcomes)")
            let listed = try await cuhk(["issued", "--json"])
            let certificates = try #require(
                try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]], "\(listed.all)")
            #expect(certificates.count == 1)

            // The other two students enroll, one at each CUHK, and upload, one through each Blackboard.
            let boardServe = Program.patientBlackboard + ["--port", "0", "--database", database]
            let boards = [
                try Program.blackboard.start(boardServe, in: first),
                try Program.blackboard.start(boardServe, in: second),
            ]
            defer { for process in boards { process.signal(SIGKILL) } }
            let boardAddresses = [try await boards[0].address(), try await boards[1].address()]
            // A machine's --dir that does not exist yet is made: the web interface keeps its login token there.
            let newMachine = SecureFile.join(second, "new-machine")
            let third = try Program.blackboard.start(
                boardServe + [
                    "--dir", newMachine, "--root-cert", SecureFile.join(second, "cuhk.cer"),
                    "--certificate", SecureFile.join(second, "blackboard.cer"),
                    "--key", SecureFile.join(second, "blackboard.key"),
                ], in: second)
            defer { third.signal(SIGKILL) }
            _ = try await third.address()
            #expect(FileManager.default.fileExists(atPath: SecureFile.join(newMachine, "blackboard-admin-token")))
            let root = try Certificate(pemEncoded: try SecureFile.readText(at: rootPath) ?? "")
            var numbers: [UInt64] = []
            for (index, sid) in Self.students.dropFirst().enumerated() {
                let studentID = StudentID(sid)!
                let credentials = try await SharedDatabase.enroll(
                    studentID, code: try #require(codes[sid]), key: TestKeys.pool[index],
                    under: SecureFile.join(first, "s-\(sid)"),
                    at: cuhkAddresses[index], root: rootPath)
                let result = try await UploadClient(
                    configuration: .init(blackboard: boardAddresses[index], root: root)
                ).upload([Array("report of \(sid)\n".utf8), Array("second part\n".utf8)], as: credentials)
                #expect(result.receipt.document.studentID == sid)
                numbers.append(result.receipt.document.report)
            }
            #expect(Set(numbers).count == 2, "\(numbers)")
            for directory in [first, second] {
                let reports = try await Program.blackboard.run(
                    ["reports", "--json", "--database", database], in: directory)
                outputs.append(reports.all)
                let rows = try #require(
                    try JSONSerialization.jsonObject(with: Data(reports.output.utf8)) as? [[String: Any]],
                    "\(reports.all)")
                #expect(Set(rows.compactMap { ($0["report"] as? NSNumber)?.uint64Value }) == Set(numbers))
            }

            // A revocation made with `cuhk revoke` is answered at once by the other instance's responder.
            let serial = try #require(certificates.first?["serial"] as? String)
            let revoke = try await cuhk(["revoke", "--serial", serial, "--reason", "keyCompromise"])
            #expect(revoke.status == 0, "\(revoke.all)")
            if OpenSSL.path != nil {
                let winner = try #require(
                    (0..<8).map { SharedDatabase.certificatePath(racer, under: SecureFile.join(first, "racer-\($0)")) }
                        .first { SecureFile.exists($0) })
                let answer = try OpenSSL.run([
                    "ocsp", "-issuer", rootPath, "-cert", winner, "-url", "http://\(ocsp)", "-CAfile", rootPath,
                ])
                #expect(answer.output.contains(": revoked"), "\(answer.output)")
                #expect(answer.output.contains("Reason: keyCompromise"), "\(answer.output)")
            }
            for process in cuhks + boards {
                process.signal(SIGTERM)
                outputs.append((try? await process.wait(limit: .seconds(60)))?.all ?? "")
            }
            #expect(!outputs.joined().isEmpty)
            #expect(!outputs.joined().contains(password), "the database's password was shown")
        }
    }
}

/// The PostgreSQL these tests use.
enum SharedDatabase {
    static let environment = ProcessInfo.processInfo.environment
    static let url: DatabaseURL? = environment["CAMPUSPKI_TEST_DATABASE"].flatMap {
        $0.isEmpty ? nil : try? DatabaseURL(parsing: $0)
    }
    static let runs = url != nil || !(environment["CAMPUSPKI_REQUIRE_POSTGRES"] ?? "").isEmpty

    /// Runs `body` with a database of its own on the test server, dropped afterwards.
    static func withFreshDatabase(_ body: (DatabaseURL) async throws -> Void) async throws {
        let base = try #require(url, "CAMPUSPKI_REQUIRE_POSTGRES is set but CAMPUSPKI_TEST_DATABASE is not")
        let name = "e" + SessionKeySchedule.randomBytes(6).hexString
        let admin = try PostgresDatabase(
            configuration: .init(url: base, schema: "public", operationTimeout: .seconds(120), maximumConnections: 1),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            defer { group.cancelAll() }
            try await admin.execute(unsafeSQL: "CREATE DATABASE \(name)")
            var fresh = base
            fresh.database = name
            do {
                try await body(fresh)
            } catch {
                _ = try? await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                throw error
            }
            try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    static func enroll(
        _ studentID: StudentID, code: EnrollmentCode, key: _RSA.Signing.PrivateKey, under directory: String,
        at address: ServerAddress, root: String
    )
        async throws -> StudentCredentials
    {
        try SecureFile.createDirectory(directory)
        let keyPath = StudentCredentials.keyPath(for: studentID, in: directory)
        if !SecureFile.exists(keyPath) {
            try SecureFile.write(key.pemRepresentation, to: keyPath, mode: SecureFile.privateMode, replacing: false)
        }
        return try await EnrollmentClient(
            configuration: .init(
                directory: directory, certificateAuthority: address, rootCertificatePath: root, code: code)
        ).enroll(studentID).0
    }

    /// `count` new RSA-2048 keys, made on a thread of their own rather than on one of the test process's few: a
    /// thread of Dispatch's global queues is one of as many as there are cores, which GRDB's queues and other tests
    /// also need, and a debug build takes seconds per key.
    static func keys(_ count: Int) async throws -> [_RSA.Signing.PrivateKey] {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result { try (0..<count).map { _ in try _RSA.Signing.PrivateKey(keySize: .bits2048) } })
            }.start()
        }
    }

    static func certificatePath(_ studentID: StudentID, under directory: String) -> String {
        SecureFile.join(directory, "\(studentID).cer")
    }
}
