import CampusPKI
import Foundation
import Testing

/// The Student asks Blackboard which assignments are open before it enrolls, so a student who must name one
/// learns it before anything is spent; Blackboard binds its port before it creates blackboard.db.
@Suite(.serialized) struct AssignmentQueryProgramTests {
    @Test func aStudentWhoMustNameAnAssignmentLearnsItBeforeEnrolling() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let added = try await Program.blackboard.run(
            ["assignment", "add", "a1", "--deadline", "2099-12-31T23:59:59Z", "--late", "refuse"],
            in: servers.directory)
        #expect(added.status == 0, "\(added.all)")
        let student = ["--sid", "1155123456", "--message", "hello"] + servers.studentArguments

        let unnamed = try await Program.student.run(student, in: servers.directory)
        #expect(unnamed.status == 4, "\(unnamed.all)")
        #expect(unnamed.errorOutput.contains("[assignment-required]"), "\(unnamed.errorOutput)")
        #expect(
            unnamed.errorOutput.contains(
                "report (no deadline), a1 (deadline 2099-12-31T23:59:59Z, no late submissions)"))
        let unknown = try await Program.student.run(student + ["--assignment", "a2"], in: servers.directory)
        #expect(unknown.status == 4 && unknown.errorOutput.contains("[unknown-assignment]"), "\(unknown.all)")
        // Nothing was spent: no key, no certificate, nothing issued by CUHK.
        #expect(!SecureFile.exists(SecureFile.join(servers.directory, "1155123456.key")))
        #expect(!SecureFile.exists(SecureFile.join(servers.directory, "1155123456.cer")))
        let issued = try await Program.cuhk.run(["issued"], in: servers.directory)
        #expect(!issued.output.contains("1155123456"), "\(issued.output)")

        let named = try await Program.student.run(student + ["--assignment", "a1"], in: servers.directory)
        #expect(named.status == 0, "\(named.all)")
    }

    @Test func aTakenPortLeavesNoDatabaseBehind() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let elsewhere = try temporaryDirectory()
        let second = try await Program.blackboard.run(
            ["--port", String(servers.blackboardAddress.port), "--no-admin"], in: elsewhere)
        #expect(second.status == 1, "\(second.all)")
        #expect(second.errorOutput.contains("address already in use"))
        #expect(!SecureFile.exists(SecureFile.join(elsewhere, "blackboard.db")))
    }
}
