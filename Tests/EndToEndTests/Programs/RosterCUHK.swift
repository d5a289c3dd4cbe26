import CampusPKI
import Foundation
import Testing
import X509

/// A CUHK with a roster, run as a process, and a way to hand out codes as the staff would.
struct RosterCUHK {
    let directory: String
    let cuhk: Running
    let address: ServerAddress

    static let students = ["1155123456", "1155000002"]

    static func start(in directory: String? = nil, arguments: [String] = []) async throws -> RosterCUHK {
        let directory = try directory ?? temporaryDirectory()
        try SecureFile.write(
            "sid,name\n" + students.map { "\($0),Student \($0)\n" }.joined(), to: SecureFile.join(directory, "r.csv"),
            mode: 0o644, replacing: true)
        #expect(try await Program.cuhk.run(["roster", "import", "r.csv"], in: directory).status == 0)
        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--port", "0", "--ocsp-port", "0"] + arguments, in: directory)
        return RosterCUHK(directory: directory, cuhk: cuhk, address: try await cuhk.address())
    }

    /// A new code for `sid`, written to a file of that name in the directory, as a student would save it.
    func code(for sid: String = "1155123456", file: String = "code.txt") async throws -> String {
        let issued = try await Program.cuhk.run(["codes", "issue", "--sid", sid, "--json"], in: directory)
        let slips = try #require(try JSONSerialization.jsonObject(with: Data(issued.output.utf8)) as? [[String: Any]])
        let code = try #require(slips.first?["code"] as? String)
        try SecureFile.write(code + "\n", to: SecureFile.join(directory, file), mode: 0o600, replacing: true)
        return code
    }

    /// The state of `sid`'s code (`active`, `used`, …) in `cuhk roster list --json`.
    func codeState(of sid: String = "1155123456") async throws -> String? {
        let list = try await Program.cuhk.run(["roster", "list", "--json"], in: directory)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
        return rows.first { $0["sid"] as? String == sid }?["code"] as? String
    }

    var rootFingerprint: String {
        get throws {
            try Certificate(pemEncoded: try SecureFile.readText(at: SecureFile.join(directory, "cuhk.cer")) ?? "")
                .sha256Fingerprint
        }
    }

    func stop() { cuhk.signal(SIGKILL) }
}
