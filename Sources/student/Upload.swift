import ArgumentParser
import CampusPKI
import CampusStudent

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The whole seed: enroll (or reuse), then the session with Blackboard and the report upload."
    )

    @OptionGroup var options: EnrollmentOptions

    func run() async throws {
        ServiceRunnerLogging.bootstrap()
        try await runReportingFailures { _ = try await options.enroll() }
    }
}

enum ServiceRunnerLogging {
    static func bootstrap() {
        ServiceRunner.bootstrapLogging(level: .warning)
    }
}
