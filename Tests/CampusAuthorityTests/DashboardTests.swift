import CampusAdmin
import CampusPKI
import CampusSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import X509

@testable import CampusAuthority

/// A running CUHK (on free ports, without an OCSP responder) whose web interface's router the tests drive in
/// memory.
struct DashboardFixture: Sendable {
    /// RSA key generation is slow in debug builds: every fixture's directory gets this root.
    static let root = try! RootAuthority.make()
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    let directory: String
    let server: CUHKServer
    let admin: AdminServer
    let registry: SQLiteAuthorityStore

    /// A logged-in browser: its cookie header and its session's CSRF token.
    struct Browser: Sendable {
        var cookie: String
        var csrf: String
    }

    /// - Parameter ocspPort: The responder's port (0: a free one); `nil` runs none.
    static func with(
        enrollment: EnrollmentPolicy = .standard, roster: [RosterEntry] = [], ocspPort: Int? = nil,
        _ body: @Sendable (DashboardFixture, any TestClientProtocol) async throws -> Void
    ) async throws {
        let directory = try temporaryDirectory()
        try RootAuthority.create(root, in: directory, checkpoint: { _ in })
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, SQLiteAuthorityStore.fileName))
        let server = try await CUHKServer(
            configuration: .init(
                directory: directory, port: 0, enrollment: enrollment, ocspPort: ocspPort, adminPort: 0),
            store: registry, logger: quiet)
        let admin = try #require(server.admin)
        if !roster.isEmpty { _ = try await registry.importRoster(roster) }
        let fixture = DashboardFixture(directory: directory, server: server, admin: admin, registry: registry)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            _ = try await server.listeningAddress()
            try await Application(router: admin.router()).test(.router) { client in try await body(fixture, client) }
        }
    }

    func logIn(_ client: any TestClientProtocol) async throws -> Browser {
        let response = try await client.execute(uri: "/login?token=\(admin.token)", method: .get)
        #expect(response.status == .seeOther)
        let setCookie = try #require(response.headers[.setCookie])
        let pair = try #require(setCookie.split(separator: ";").first.map(String.init))
        let id = String(pair.dropFirst(AdminAuthMiddleware.cookieName.count + 1))
        let session = try #require(try await admin.sessions.session(id))
        return Browser(cookie: pair, csrf: session.csrfToken)
    }

    func get(_ client: any TestClientProtocol, _ uri: String, as browser: Browser?) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: browser.map { [.cookie: $0.cookie] } ?? [:])
    }

    func post(_ client: any TestClientProtocol, _ uri: String, _ fields: [String: String], as browser: Browser?)
        async throws -> TestResponse
    {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let browser { headers[.cookie] = browser.cookie }
        let form = fields.sorted { $0.key < $1.key }.map { name, value in
            let escaped = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return "\(name)=\(escaped)"
        }
        return try await client.execute(
            uri: uri, method: .post, headers: headers, body: ByteBuffer(string: form.joined(separator: "&")))
    }

    /// A certificate for `sid`, issued as an enrollment would issue it.
    func issue(_ sid: String = "1155123456", code: String? = nil) async throws -> IssuedCertificate {
        let csr = try makeCSR(cn: [sid])
        return try await server.authority.issue(
            csrPEM: csr, proof: try codeProof(code.flatMap(EnrollmentCode.init), csrPEM: csr),
            transcriptDigest: channelDigest
        ).0
    }

    /// A sample's value in `/metrics`, e.g. `cuhk_certificates_issued_total`.
    func metric(_ client: any TestClientProtocol, _ sample: String) async throws -> Double? {
        let response = try await client.execute(uri: "/metrics", method: .get)
        #expect(response.status == .ok)
        return String(buffer: response.body).split(separator: "\n").lazy
            .filter { $0.hasPrefix(sample + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.first
    }
}

@Suite struct DashboardTests {
    static let sid = "1155123456"
    static let student = RosterEntry(studentID: StudentID(sid)!, name: "Chan Tai Man")

    @Test func everyPageAndActionRefusesWithoutALogin() async throws {
        try await DashboardFixture.with(enrollment: .open, roster: [Self.student]) { fixture, client in
            let serial = try await fixture.issue().serial
            let forged = DashboardFixture.Browser(cookie: "\(AdminAuthMiddleware.cookieName)=forged", csrf: "x")
            for browser in [nil, forged] {
                for page in [
                    "/", "/codes", "/codes?sid=\(Self.sid)", "/certificates", "/certificates/\(serial)/revoke",
                    "/throttle",
                ] {
                    let response = try await fixture.get(client, page, as: browser)
                    #expect(response.status == .found, "\(page)")
                    let expected =
                        page.hasPrefix("/?") || page == "/" ? "/login" : "/login?next=\(page.split(separator: "?")[0])"
                    #expect(response.headers[.location] == expected, "\(page)")
                }
                for action in ["/codes", "/certificates/\(serial)/revoke", "/throttle/clear", "/logout"] {
                    let response = try await fixture.post(
                        client, action,
                        ["csrf": "x", "sid": Self.sid, "validity": "3600", "reason": "keyCompromise"], as: browser)
                    #expect(response.status == .unauthorized, "\(action)")
                }
            }
            #expect(try await fixture.registry.codes().isEmpty)
            #expect(try await fixture.isGood(serial))
        }
    }

    @Test func theTokenLogsInWithAStrictHttpOnlyCookieAndWrongTokensAreLimited() async throws {
        try await DashboardFixture.with { fixture, client in
            let response = try await client.execute(uri: "/login?token=\(fixture.admin.token)", method: .get)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/")
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.hasPrefix(AdminAuthMiddleware.cookieName + "="))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            let browser = try await fixture.logIn(client)
            #expect(try await fixture.get(client, "/", as: browser).status == .ok)

            let wrong = String(fixture.admin.token.reversed())
            for _ in 0..<AdminSessions.failuresAllowed {
                let refused = try await client.execute(uri: "/login?token=\(wrong)", method: .get)
                #expect(refused.status == .unauthorized)
                #expect(refused.headers[.setCookie] == nil)
            }
            let limited = try await client.execute(uri: "/login?token=\(wrong)", method: .get)
            #expect(limited.status == .tooManyRequests)
            // While wrong tokens are limited, the right one still logs in.
            let right = try await client.execute(uri: "/login?token=\(fixture.admin.token)", method: .get)
            #expect(right.status == .seeOther)
            #expect(right.headers[.setCookie]?.hasPrefix(AdminAuthMiddleware.cookieName + "=") == true)
        }
    }

    @Test func aPostWithoutItsCSRFTokenIsRefusedAndDoesNothing() async throws {
        try await DashboardFixture.with(enrollment: .open, roster: [Self.student]) { fixture, client in
            let certificate = try await fixture.issue()
            let browser = try await fixture.logIn(client)
            let other = try await fixture.logIn(client)
            for csrf in [nil, "", "0123", other.csrf] {
                var codes: [String: String] = ["recipients": "student", "sid": Self.sid, "validity": "3600"]
                var revoke = ["reason": "keyCompromise"]
                if let csrf {
                    codes["csrf"] = csrf
                    revoke["csrf"] = csrf
                }
                let issuing = try await fixture.post(client, "/codes", codes, as: browser)
                #expect(issuing.status == .forbidden)
                let revoking = try await fixture.post(
                    client, "/certificates/\(certificate.serial)/revoke", revoke, as: browser)
                #expect(revoking.status == .forbidden)
            }
            #expect(try await fixture.registry.codes().isEmpty)
            #expect(try await fixture.isGood(certificate.serial))
            // The same requests with the token do what they say.
            let issued = try await fixture.post(
                client, "/codes", ["csrf": browser.csrf, "recipients": "student", "sid": Self.sid, "validity": "3600"],
                as: browser)
            #expect(issued.status == .ok)
            #expect(try await fixture.registry.codes().count == 1)
        }
    }

    @Test func namesShowEscaped() async throws {
        let script = "<script>alert(1)</script>"
        let hostile = RosterEntry(studentID: StudentID(Self.sid)!, name: script)
        try await DashboardFixture.with(enrollment: .open, roster: [hostile]) { fixture, client in
            let certificate = try await fixture.issue()
            let browser = try await fixture.logIn(client)
            let slips = try await fixture.post(
                client, "/codes", ["csrf": browser.csrf, "recipients": "student", "sid": Self.sid, "validity": "3600"],
                as: browser)
            for (page, response) in [
                ("/", try await fixture.get(client, "/", as: browser)),
                ("slips", slips),
                ("/certificates", try await fixture.get(client, "/certificates?sid=\(Self.sid)", as: browser)),
                ("revoke", try await fixture.get(client, "/certificates/\(certificate.serial)/revoke", as: browser)),
            ] {
                let html = String(buffer: response.body)
                #expect(response.status == .ok, "\(page)")
                #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(page)")
                #expect(!html.contains(script), "\(page)")
                #expect(!html.lowercased().contains("<script"), "\(page)")
            }
        }
    }

    @Test func theRosterShowsEachStudentsStandingAndTheCounts() async throws {
        let waiting = RosterEntry(studentID: StudentID("1155000002")!, name: "Lee Siu Ming")
        let idle = RosterEntry(studentID: StudentID("1155000003")!, name: "Wong Ka Yan")
        try await DashboardFixture.with { fixture, client in
            let browser = try await fixture.logIn(client)
            let empty = String(buffer: try await fixture.get(client, "/", as: browser).body)
            #expect(empty.contains("The roster is empty"))
            #expect(empty.contains("cuhk roster import"))

            _ = try await fixture.registry.importRoster([Self.student, waiting, idle])
            let codes = try await EnrollmentCodes.issue(
                to: .allUnenrolled, validFor: 3600, in: fixture.registry)
            let code = try #require(codes.first { $0.entry == Self.student }?.code)
            _ = try await fixture.issue(code: "\(code)")
            let html = String(buffer: try await fixture.get(client, "/", as: browser).body)
            #expect(!html.contains("The roster is empty"))
            #expect(html.contains("3 students on the roster: <strong>1</strong> enrolled, <strong>2</strong> not"))
            #expect(html.contains("enrolled"))
            #expect(html.contains("serial \(try await fixture.registry.certificates(for: nil)[0].serial)"))
            #expect(html.contains("code issued, expires"))
            #expect(html.contains("/certificates?sid=1155000002"))
            #expect(html.contains("<div class=\"scroll\"><table>"))
        }
    }

    /// The throttled addresses, as `cuhk throttle list` shows them, each with a button that lifts it.
    @Test func theThrottlePageShowsAndClearsThrottledAddresses() async throws {
        try await DashboardFixture.with(roster: [Self.student]) { fixture, client in
            let browser = try await fixture.logIn(client)
            let now = Date()
            for address in ["198.51.100.7", "2001:db8:0:1::9"] {
                try await fixture.registry.recordThrottle(
                    ThrottledAddress(address: SourceAddress(address)!, since: now, until: now + 900), at: now,
                    keepingAtMost: 10)
            }
            let roster = String(buffer: try await fixture.get(client, "/", as: browser).body)
            #expect(roster.contains("No student can be locked out"))
            #expect(roster.contains("2 addresses throttled now"))
            let page = String(buffer: try await fixture.get(client, "/throttle", as: browser).body)
            #expect(page.contains("<code>198.51.100.7</code>") && page.contains("<code>2001:db8:0:1::/64</code>"))
            #expect(page.contains("10 wrong enrollment codes"))
            let cleared = try await fixture.post(
                client, "/throttle/clear", ["csrf": browser.csrf, "address": "198.51.100.7"], as: browser)
            #expect(cleared.status == .seeOther && cleared.headers[.location] == "/throttle")
            #expect(
                try await fixture.registry.throttledAddresses(at: now).map(\.address.description) == [
                    "2001:db8:0:1::/64"
                ])
            let bad = try await fixture.post(
                client, "/throttle/clear", ["csrf": browser.csrf, "address": "<b>x"], as: browser)
            #expect(bad.status == .badRequest && !String(buffer: bad.body).contains("<b>x"))
            _ = try await fixture.post(
                client, "/throttle/clear", ["csrf": browser.csrf, "address": "all"], as: browser)
            #expect(try await fixture.registry.throttledAddresses(at: now).isEmpty)
        }
    }

    @Test func issuedCodesArePrintedOnSlipsAndWork() async throws {
        let other = RosterEntry(studentID: StudentID("1155000002")!, name: "Lee Siu Ming")
        try await DashboardFixture.with(roster: [Self.student, other]) { fixture, client in
            let browser = try await fixture.logIn(client)
            let form = try await fixture.get(client, "/codes?sid=\(Self.sid)", as: browser)
            let formHTML = String(buffer: form.body)
            #expect(form.status == .ok)
            #expect(formHTML.contains("<input type=\"hidden\" name=\"csrf\" value=\"\(browser.csrf)\">"))
            #expect(formHTML.contains("value=\"\(Self.sid)\""))
            #expect(formHTML.contains("<option value=\"604800\" selected>7 days</option>"))

            let response = try await fixture.post(
                client, "/codes", ["csrf": browser.csrf, "recipients": "unenrolled", "validity": "604800"],
                as: browser)
            #expect(response.status == .ok)
            let html = String(buffer: response.body)
            #expect(html.components(separatedBy: "class=\"slip\"").count == 3)
            let address = try await fixture.server.listeningAddress()
            let fingerprint = fixture.server.authority.root.certificate.sha256Fingerprint
            var codes: [String: String] = [:]
            // Each slip: the command with both addresses and the root's fingerprint, and the code apart from it.
            #expect(!html.contains("--code"))
            for entry in [Self.student, other] {
                #expect(
                    html.contains(
                        "<pre>student --sid \(entry.studentID) --ca 127.0.0.1:\(try #require(address.port)) "
                            + "--blackboard 127.0.0.1:3141 --root-fingerprint \(fingerprint)</pre>"))
                let slip = try #require(html.range(of: "SID <code>\(entry.studentID)</code>"))
                let prefix = "When asked for your enrollment code, type: <code>"
                let start = try #require(html.range(of: prefix, range: slip.upperBound..<html.endIndex)).upperBound
                let code = String(html[start...].prefix(24))
                #expect(EnrollmentCode(code) != nil)
                #expect(html.contains(entry.name))
                codes[entry.studentID.rawValue] = code
            }
            let stored = try await fixture.registry.codes()
            #expect(stored.count == 2)
            #expect(stored.allSatisfy { abs($0.expiresAt.timeIntervalSince($0.issuedAt) - 604_800) < 1 })
            // Only the hashes are stored, and they are the printed codes'.
            for (sid, code) in codes {
                let issued = try await fixture.issue(sid, code: code)
                #expect(issued.studentID.rawValue == sid)
            }
            // Everyone is enrolled now: nobody left to issue a code to.
            let none = try await fixture.post(
                client, "/codes", ["csrf": browser.csrf, "recipients": "unenrolled", "validity": "3600"], as: browser)
            #expect(String(buffer: none.body).contains("every student on the roster is enrolled"))
            // A SID not on the roster, and a validity not offered.
            let unknown = try await fixture.post(
                client, "/codes",
                ["csrf": browser.csrf, "recipients": "student", "sid": "1155999999", "validity": "3600"],
                as: browser)
            #expect(unknown.status == .notFound)
            let forever = try await fixture.post(
                client, "/codes",
                ["csrf": browser.csrf, "recipients": "student", "sid": Self.sid, "validity": "999999999"], as: browser)
            #expect(forever.status == .badRequest)
        }
    }

    @Test func revokingThroughTheConfirmationPageRevokes() async throws {
        try await DashboardFixture.with(enrollment: .open) { fixture, client in
            let older = try await fixture.issue("1155000002")
            let certificate = try await fixture.issue()
            let browser = try await fixture.logIn(client)
            let list = String(buffer: try await fixture.get(client, "/certificates", as: browser).body)
            let newest = try #require(list.range(of: certificate.serial))
            let oldest = try #require(list.range(of: older.serial))
            #expect(newest.lowerBound < oldest.lowerBound)
            #expect(list.contains("href=\"/certificates/\(certificate.serial)/revoke\""))

            let confirm = try await fixture.get(client, "/certificates/\(certificate.serial)/revoke", as: browser)
            #expect(confirm.status == .ok)
            let page = String(buffer: confirm.body)
            #expect(page.contains("method=\"post\" action=\"/certificates/\(certificate.serial)/revoke\""))
            #expect(page.contains("<input type=\"hidden\" name=\"csrf\" value=\"\(browser.csrf)\">"))
            for reason in ["keyCompromise", "superseded", "cessationOfOperation", "unspecified"] {
                #expect(page.contains("<option value=\"\(reason)\""))
            }
            // Showing the page revokes nothing.
            #expect(try await fixture.isGood(certificate.serial))

            let revoked = try await fixture.post(
                client, "/certificates/\(certificate.serial)/revoke",
                ["csrf": browser.csrf, "reason": "keyCompromise"], as: browser)
            #expect(revoked.status == .seeOther)
            #expect(revoked.headers[.location] == "/certificates")
            guard case .revoked(_, let revocation) = try await fixture.registry.status(ofSerial: certificate.serial)
            else {
                Issue.record("not revoked")
                return
            }
            #expect(revocation.reason == .keyCompromise)
            #expect(try await fixture.isGood(older.serial))
            let after = String(buffer: try await fixture.get(client, "/certificates", as: browser).body)
            #expect(after.contains("revoked (keyCompromise)"))
            #expect(!after.contains("href=\"/certificates/\(certificate.serial)/revoke\""))

            let again = try await fixture.post(
                client, "/certificates/\(certificate.serial)/revoke",
                ["csrf": browser.csrf, "reason": "superseded"], as: browser)
            #expect(again.status == .conflict)
            let unknown = try await fixture.get(client, "/certificates/00ff/revoke", as: browser)
            #expect(unknown.status == .notFound)
            let noReason = try await fixture.post(
                client, "/certificates/\(older.serial)/revoke", ["csrf": browser.csrf, "reason": "because"],
                as: browser)
            #expect(noReason.status == .badRequest)
            #expect(try await fixture.isGood(older.serial))
        }
    }

    @Test func metricsCountIssuanceRefusalsAndOCSPAnswers() async throws {
        try await DashboardFixture.with(enrollment: .open) { fixture, client in
            #expect(try await fixture.metric(client, AuthorityMetrics.issuedName) == 0)
            _ = try await fixture.issue()
            #expect(try await fixture.metric(client, AuthorityMetrics.issuedName) == 1)
            _ = try await fixture.issue("1155000002")
            #expect(try await fixture.metric(client, AuthorityMetrics.issuedName) == 2)
            #expect(try await fixture.metric(client, AuthorityMetrics.issueDurationName + "_count") == 2)

            await #expect(throws: CampusError.self) {
                _ = try await fixture.server.authority.issue(csrPEM: "not a CSR")
            }
            #expect(
                try await fixture.metric(client, AuthorityMetrics.refusedName + "{code=\"malformed-csr\"}") == 1)

            let responder = OCSPResponder(
                root: DashboardFixture.root, registry: fixture.registry,
                events: AuthorityMetrics(metrics: fixture.server.metrics).sink)
            _ = await responder.respond(to: [0x30, 0x00], logger: DashboardFixture.quiet)
            #expect(try await fixture.metric(client, AuthorityMetrics.ocspName + "{status=\"error\"}") == 1)
        }
    }

    @Test func healthAndReadinessNeedNoLogin() async throws {
        try await DashboardFixture.with { fixture, client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == "ready\n")
            #expect(fixture.admin.metrics.exposition().contains(AuthorityMetrics.issuedName))
        }
    }

    @Test func readinessNamesWhatIsWrong() async throws {
        let directory = try temporaryDirectory()
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        let dashboard = CUHKDashboard(
            registry: registry, root: nil, directory: directory, enrollmentAddress: { "127.0.0.1:9335" })
        #expect(await dashboard.readiness() == ["the root key and certificate are not loaded"])
        let ready = CUHKDashboard(
            registry: registry, root: DashboardFixture.root, directory: directory,
            enrollmentAddress: { "127.0.0.1:9335" })
        #expect(await ready.readiness().isEmpty)

        struct Full: Error, CustomStringConvertible {
            var description: String { "disk full" }
        }
        let problems = await AuthorityReadiness.problems(root: DashboardFixture.root) { throw Full() }
        #expect(problems == ["cuhk.db does not accept writes: disk full"])
        let expired = try RootAuthority.make(validityDays: 1, now: Date().addingTimeInterval(-3 * 86_400))
        let old = await AuthorityReadiness.problems(root: expired) {}
        #expect(old.count == 1 && old[0].hasPrefix("the root certificate expired on"))
    }
}

extension DashboardFixture {
    /// Whether the registry knows `serial` and has not revoked it.
    func isGood(_ serial: String) async throws -> Bool {
        guard case .good(let certificate) = try await registry.status(ofSerial: serial) else { return false }
        return certificate.serial == serial && certificate.revocation == nil
    }

}
