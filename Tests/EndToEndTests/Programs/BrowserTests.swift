import CampusCommandLine
import CampusPKI
import Foundation
import Testing

/// The dashboards in a real browser: Debian's Chromium, headless, through the login URL the server printed.
///
/// `.ci/run` installs Chromium and sets `CAMPUSPKI_REQUIRE_BROWSER=1`, so in CI a missing browser fails the test;
/// elsewhere the test is skipped, with a message, when there is no `chromium`.
@Suite(.serialized) struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static var required: Bool { ProcessInfo.processInfo.environment["CAMPUSPKI_REQUIRE_BROWSER"] == "1" }

    /// The DOM Chromium renders for `url`, in a fresh profile (no cookie from an earlier visit).
    static func dumpDOM(_ url: String) throws -> String {
        let browser = try #require(chromium)
        let profile = try temporaryDirectory()
        let dom = SecureFile.join(profile, "dom.html")
        let process = try ChildProcess.launch(
            browser,
            arguments: [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--user-data-dir=\(profile)", "--virtual-time-budget=3000", "--dump-dom", url,
            ], standardOutput: .file(dom))
        _ = process.waitBlocking()
        let text = (try? String(contentsOfFile: dom, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: profile)
        return text
    }

    /// Waits for a line of the program's output that starts with `prefix`; returns the rest of it.
    static func line(_ prefix: String, of program: Running) async throws -> String {
        for _ in 0..<600 {
            if let line = program.output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                return String(line.dropFirst(prefix.count))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CampusError(.timeout, "no line starting with \(prefix)")
    }

    @Test func theBlackboardDashboardShowsTheSubmissionAfterLoginAndALoginPageWithout() async throws {
        guard Self.chromium != nil else {
            #expect(!Self.required, "CAMPUSPKI_REQUIRE_BROWSER=1 but no chromium is installed")
            print("BrowserTests: no chromium; skipped (install Debian's chromium to run it)")
            return
        }
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let upload = try await Program.student.run(
            ["--sid", "1155123456", "--message", "Report by <i>browser</i>"] + servers.studentArguments,
            in: servers.directory)
        #expect(upload.status == 0, "\(upload.all)")
        let login = try await Self.line("login at ", of: servers.blackboard)
        let dashboard = try await Self.line("dashboard at ", of: servers.blackboard)

        let assignments = try Self.dumpDOM(login)
        #expect(assignments.contains("<h1>Assignments</h1>"), "\(assignments.prefix(400))")
        #expect(assignments.contains("<a href=\"/assignments/report\">report</a>"))

        let page = try Self.dumpDOM(login + "&next=/assignments/report")
        #expect(page.contains("<a href=\"/students/1155123456\">1155123456</a>"), "\(page.prefix(400))")
        #expect(page.contains("<span class=\"ontime\">on time</span>"))
        // The time of the submission, as Blackboard committed it.
        let committed = try #require(
            upload.output.split(separator: "\n").first { $0.hasPrefix("  committed") }?.split(separator: " ").last)
        #expect(page.contains(String(committed)), "the page does not show \(committed)")

        let report = try Self.dumpDOM(login + "&next=/reports/1")
        #expect(report.contains("Report by &lt;i&gt;browser&lt;/i&gt;"))
        #expect(!report.contains("<i>browser</i>"))

        let without = try Self.dumpDOM(dashboard + "assignments/report")
        #expect(without.contains("<h1>Log in</h1>") && without.contains("name=\"token\""))
        #expect(!without.contains("1155123456"))
    }

    /// `campus-demo --keep`: the printed URLs open both dashboards in Chromium (the demo's submission, on time,
    /// with its time; the student enrolled), the same pages without the token show the login page, `/metrics`
    /// shows the handshake and the stored messages, `/readyz` answers 200, and Ctrl-C stops both servers.
    @Test func campusDemoKeepLeavesDashboardsToLookAround() async throws {
        guard Self.chromium != nil else {
            #expect(!Self.required, "CAMPUSPKI_REQUIRE_BROWSER=1 but no chromium is installed")
            return
        }
        let directory = try temporaryDirectory()
        let demo = try Program.campusDemo.start(["--keep", "--dir", "demo"], in: directory)
        defer { demo.signal(SIGKILL) }
        _ = try await Self.line("Press Ctrl-C", of: demo)
        let blackboardLogin = try await Self.line("[Blackboard] login at ", of: demo)
        let blackboard = try await Self.line("[Blackboard] dashboard at ", of: demo)
        let cuhkLogin = try await Self.line("[CUHK] login at ", of: demo)
        let cuhk = try await Self.line("[CUHK] dashboard at ", of: demo)
        // "… verified: report, committed 2026-12-06T03:04:17Z by CUHK's timestamp, on time": the word after "committed".
        let words = try #require(
            demo.output.split(separator: "\n").first { $0.contains("Receipt for report 1 verified") }?
                .split(separator: " "))
        let committed = try #require(words.firstIndex(of: "committed").map { words[$0 + 1] })
        let time = String(committed.hasSuffix(",") ? committed.dropLast() : committed)

        let submissions = try Self.dumpDOM(blackboardLogin + "&next=/assignments/report")
        #expect(submissions.contains("<a href=\"/reports/1\">\(time)</a>"), "\(submissions.prefix(600))")
        #expect(submissions.contains("<span class=\"ontime\">on time</span>"))
        #expect(submissions.contains("Demo Student"))
        let roster = try Self.dumpDOM(cuhkLogin)
        #expect(roster.contains("1155123456") && roster.contains("enrolled"), "\(roster.prefix(600))")
        #expect(!roster.contains("not enrolled</span>"))
        for page in [blackboard + "assignments/report", cuhk] {
            let without = try Self.dumpDOM(page)
            #expect(without.contains("name=\"token\"") && !without.contains("1155123456"), "\(page)")
        }
        let metrics = try await MetricsTests.get(blackboard + "metrics").body
        #expect(MetricsTests.value("blackboard_handshakes_total{outcome=\"established\"}", in: metrics) == 1)
        #expect(MetricsTests.value("blackboard_messages_stored_total", in: metrics) == 10)
        #expect(try await MetricsTests.get(blackboard + "readyz").status == 200)
        #expect(try await MetricsTests.get(cuhk + "readyz").status == 200)

        demo.signal(SIGINT)
        let outcome = try await demo.wait(limit: .seconds(30))
        #expect(outcome.status == 0, "\(outcome.all)")
    }
}
