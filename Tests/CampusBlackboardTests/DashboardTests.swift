import CampusAdmin
import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Blackboard's web interface, through Hummingbird's test client: login, CSRF, escaping, downloads.
@Suite struct DashboardTests {
    static let hostile = Array("<script>alert(1)</script> & \"quotes\"".utf8)
    static let receipt: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x07]

    /// A store with one report whose message is hostile HTML, and the web interface over it.
    static func make() async throws -> (SQLiteBlackboardStore, AdminServer) {
        let directory = try temporaryDirectory()
        let store = try SQLiteBlackboardStore(path: SecureFile.join(directory, "blackboard.db"))
        let sid = StudentID("1155123456")!
        let record = SessionRecord(
            sessionID: Array(repeating: 1, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
            startedAt: Date())
        _ = try await store.commit(
            SessionBatch(
                session: record, storedSession: nil,
                messages: [
                    StoredMessage(sequence: 1, content: hostile, mac: [9], receivedAt: Date()),
                    StoredMessage(sequence: 2, content: [0, 1, 2, 255], mac: [9], receivedAt: Date()),
                ],
                report: ReportSummary(
                    sessionID: record.sessionID, studentID: sid, certificateSerial: "ab", messageCount: 2,
                    totalBytes: UInt64(hostile.count + 4), digest: Array(repeating: 7, count: 32), completedAt: Date()),
                signReceipt: { _ in receipt }))
        _ = try await store.importRoster([
            RosterEntry(studentID: sid, name: "<b>Chan</b>"),
            RosterEntry(studentID: StudentID("1155000002")!, name: "Lee"),
        ])
        let dashboard = BlackboardDashboard(store: store)
        let admin = try AdminServer(
            configuration: .init(
                port: 0, tokenPath: SecureFile.join(directory, AdminToken.fileName(for: "blackboard"))),
            pages: try BlackboardDashboard.pages(), metrics: ServerMetrics(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            readiness: { [] }, routes: { group, pages in dashboard.routes(group, pages) })
        return (store, admin)
    }

    static let pages = [
        "/", "/assignments/report", "/students/1155123456", "/reports/1", "/reports/1/content",
        "/reports/1/receipt.p7s",
    ]
    static let actions = ["/assignments", "/assignments/report/close", "/logout"]

    /// Logs in with the token; returns the cookie header and the page's CSRF token.
    static func login(_ client: some TestClientProtocol, token: String) async throws -> (String, String) {
        let response = try await client.execute(uri: "/login?token=\(token)", method: .get)
        #expect(response.status == .seeOther)
        let setCookie = try #require(response.headers[.setCookie])
        #expect(
            setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Expires="))
        let cookie = String(setCookie.prefix { $0 != ";" })
        let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie])
        let html = String(buffer: page.body)
        let marker = "name=\"csrf\" value=\""
        let start = try #require(html.range(of: marker)).upperBound
        return (cookie, String(html[start...].prefix(64)))
    }

    @Test func everyPageAndActionNeedsALogin() async throws {
        let (_, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            for path in Self.pages {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .found, "\(path)")
                // After the login, the page asked for.
                #expect(response.headers[.location] == (path == "/" ? "/login" : "/login?next=\(path)"), "\(path)")
            }
            for path in Self.actions {
                let response = try await client.execute(uri: path, method: .post, body: ByteBuffer(string: "csrf=x"))
                #expect(response.status == .unauthorized, "\(path)")
            }
            // A forged cookie is no session.
            let forged = try await client.execute(uri: "/", method: .get, headers: [.cookie: "campuspki_session=abc"])
            #expect(forged.status == .found)
            // Health and metrics need none.
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
    }

    @Test func aWrongTokenIsRefusedAndRepeatedFailuresAreLimited() async throws {
        let (_, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            for _ in 0..<AdminSessions.failuresAllowed {
                let response = try await client.execute(uri: "/login?token=wrong", method: .get)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil)
            }
            // Further wrong tokens wait; the right token does not.
            let limited = try await client.execute(uri: "/login?token=wrong", method: .get)
            #expect(limited.status == .tooManyRequests)
            let right = try await client.execute(uri: "/login?token=\(admin.token)", method: .get)
            #expect(right.status == .seeOther)
        }
    }

    @Test func aFormWithoutItsCSRFTokenIsForbiddenAndChangesNothing() async throws {
        let (store, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, csrf) = try await Self.login(client, token: admin.token)
            let form: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
            let without = try await client.execute(
                uri: "/assignments", method: .post, headers: form, body: ByteBuffer(string: "name=a1&late=accept"))
            #expect(without.status == .forbidden)
            let wrong = try await client.execute(
                uri: "/assignments", method: .post, headers: form,
                body: ByteBuffer(string: "name=a1&late=accept&csrf=\(String(repeating: "0", count: 64))"))
            #expect(wrong.status == .forbidden)
            #expect(try await store.assignments().map(\.name) == ["report"])
            let with = try await client.execute(
                uri: "/assignments", method: .post, headers: form,
                body: ByteBuffer(string: "name=a1&deadline=2026-12-01T23%3A59%3A59Z&late=refuse&csrf=\(csrf)"))
            #expect(with.status == .seeOther)
            let added = try #require(try await store.assignments().first { $0.name == "a1" })
            #expect(added.late == .refuse && added.deadline == ReceiptDocument.parseTimestamp("2026-12-01T23:59:59Z"))
            let close = try await client.execute(
                uri: "/assignments/a1/close", method: .post, headers: form, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(close.status == .seeOther)
            #expect(try await store.assignments().first { $0.name == "a1" }?.isOpen == false)
        }
    }

    @Test func whatAStudentSentIsShownAsTextAndDownloadsAreExact() async throws {
        let (_, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, _) = try await Self.login(client, token: admin.token)
            let page = String(
                buffer: try await client.execute(uri: "/reports/1", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"))
            #expect(!page.contains("<script>"))
            #expect(page.contains("4 bytes: <code>000102ff</code>"))
            let assignment = String(
                buffer: try await client.execute(uri: "/assignments/report", method: .get, headers: [.cookie: cookie])
                    .body)
            #expect(assignment.contains("&lt;b&gt;Chan&lt;/b&gt;") && !assignment.contains("<b>Chan"))
            #expect(assignment.contains("1155000002 Lee"))  // on the roster, nothing submitted: missing

            let content = try await client.execute(uri: "/reports/1/content", method: .get, headers: [.cookie: cookie])
            #expect(Array(buffer: content.body) == Self.hostile + [0, 1, 2, 255])
            #expect(
                content.headers[.contentDisposition]
                    == "attachment; filename=\"1155123456-report-1.bin\"; filename*=UTF-8''1155123456-report-1.bin")
            #expect(content.headers[.contentType] == "application/octet-stream")
            let receipt = try await client.execute(
                uri: "/reports/1/receipt.p7s", method: .get, headers: [.cookie: cookie])
            #expect(Array(buffer: receipt.body) == Self.receipt)
            #expect(
                receipt.headers[.contentDisposition]
                    == "attachment; filename=\"report-1.p7s\"; filename*=UTF-8''report-1.p7s")
        }
    }

    /// A report from a named file downloads under that name, as an attachment, with its content type only when that
    /// type cannot run in the browser.
    @Test func aDownloadKeepsTheStudentsFileNameAndOnlySafeTypes() async throws {
        let (store, admin) = try await Self.make()
        let sid = StudentID("1155123456")!
        for (session, name, type) in [
            (UInt8(2), "Notes – week 1.txt", "text/plain"), (3, "page.html", "text/html"), (4, "", "text/plain"),
        ] {
            let record = SessionRecord(
                sessionID: Array(repeating: session, count: 16), studentID: sid, certificateSerial: "ab", peer: "p",
                startedAt: Date())
            _ = try await store.commit(
                SessionBatch(
                    session: record, storedSession: nil,
                    messages: [
                        StoredMessage(sequence: 1, content: Array("line\r\n".utf8), mac: [9], receivedAt: Date())
                    ],
                    report: ReportSummary(
                        sessionID: record.sessionID, studentID: sid, certificateSerial: "ab", messageCount: 1,
                        totalBytes: 6, digest: Array(repeating: 7, count: 32), completedAt: Date(),
                        file: try SubmittedFile(name: name, contentType: type))))
        }
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, _) = try await Self.login(client, token: admin.token)
            func download(_ id: Int) async throws -> TestResponse {
                try await client.execute(uri: "/reports/\(id)/content", method: .get, headers: [.cookie: cookie])
            }
            let text = try await download(2)
            #expect(Array(buffer: text.body) == Array("line\r\n".utf8))
            #expect(text.headers[.contentType] == "text/plain")
            #expect(
                text.headers[.contentDisposition]
                    == "attachment; filename=\"Notes _ week 1.txt\"; filename*=UTF-8''Notes%20%E2%80%93%20week%201.txt")
            #expect(text.headers[.xContentTypeOptions] == "nosniff")
            let html = try await download(3)
            #expect(html.headers[.contentType] == "application/octet-stream")
            #expect(html.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"page.html\"") == true)
            let unnamed = try await download(4)
            #expect(
                unnamed.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"1155123456-report-4.txt\"")
                    == true)
            let page = String(
                buffer: try await client.execute(uri: "/reports/2", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("Download Notes – week 1.txt</a> (text/plain,"))
        }
    }

    /// Every table's columns have different names (the assignments page had two "Late" columns: the policy and the
    /// count).
    @Test func noTableHasTwoColumnsOfTheSameName() async throws {
        let (_, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, _) = try await Self.login(client, token: admin.token)
            for path in ["/", "/assignments/report", "/students/1155123456", "/reports/1"] {
                let html = String(
                    buffer: try await client.execute(uri: path, method: .get, headers: [.cookie: cookie]).body)
                for row in html.components(separatedBy: "<tr>") where row.contains("<th>") {
                    let headers = row.components(separatedBy: "<th>").dropFirst().map {
                        String($0.prefix { $0 != "<" })
                    }
                    #expect(Set(headers).count == headers.count, "\(path): \(headers)")
                }
            }
            let assignments = String(
                buffer: try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]).body)
            #expect(assignments.contains("<th>Late submissions</th>") && assignments.contains("<th>Only late</th>"))
        }
    }

    /// A report made with a certificate that CUHK revoked afterwards is marked on every page that lists it.
    @Test func reportsOfARevokedCertificateAreMarked() async throws {
        let (store, admin) = try await Self.make()
        try await store.recordRevocations([
            LearnedRevocation(
                serial: "ab", revokedAt: Date().addingTimeInterval(60), reasonCode: 1, learnedAt: Date())
        ])
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, _) = try await Self.login(client, token: admin.token)
            for path in ["/reports/1", "/students/1155123456", "/assignments/report"] {
                let html = String(
                    buffer: try await client.execute(uri: path, method: .get, headers: [.cookie: cookie]).body)
                #expect(html.contains("keyCompromise"), "\(path)")
                #expect(html.contains("after this report"), "\(path)")
            }
        }
    }

    @Test func aSessionCutOffIsShownAsAnIncompleteAttemptNotAsASubmission() async throws {
        let (store, admin) = try await Self.make()
        let other = StudentID("1155000002")!
        let stored = try await store.commit(
            SessionBatch(
                session: SessionRecord(
                    sessionID: Array(repeating: 2, count: 16), studentID: other, certificateSerial: "cd", peer: "p",
                    startedAt: Date()),
                storedSession: nil,
                messages: [StoredMessage(sequence: 1, content: Array("half".utf8), mac: [9], receivedAt: Date())],
                report: nil))
        try await store.failSession(stored.session, reason: "connection-closed (10): the peer closed the connection")
        let attempts = try await store.incompleteAttempts(for: nil)
        #expect(attempts.map(\.studentID) == [other])
        #expect(attempts.first?.status == .failed("connection-closed (10): the peer closed the connection"))
        #expect(try await store.reports(for: other).isEmpty)
        #expect(try await store.usage(of: other, in: "report").reportsInAssignment == 0)
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, _) = try await Self.login(client, token: admin.token)
            for path in ["/assignments/report", "/students/1155000002"] {
                let html = String(
                    buffer: try await client.execute(uri: path, method: .get, headers: [.cookie: cookie]).body)
                #expect(html.contains("Incomplete attempts"), "\(path)")
                #expect(html.contains("incomplete, ended: connection-closed (10)"), "\(path)")
            }
            // Still missing from the assignment: an incomplete attempt is not a submission.
            let assignment = String(
                buffer: try await client.execute(uri: "/assignments/report", method: .get, headers: [.cookie: cookie])
                    .body)
            #expect(assignment.contains("1155000002 Lee"))
            let student = String(
                buffer: try await client.execute(uri: "/students/1155123456", method: .get, headers: [.cookie: cookie])
                    .body)
            #expect(!student.contains("Incomplete attempts"))
        }
    }

    @Test func failedLoginsAreCountedPerClient() async throws {
        let sessions = AdminSessions(token: String(repeating: "a", count: 64))
        for _ in 0..<AdminSessions.failuresAllowed {
            #expect(try await sessions.login(with: "guess", from: "192.0.2.1") == .wrongToken)
        }
        guard case .rateLimited = try await sessions.login(with: "guess", from: "192.0.2.1") else {
            Issue.record("the guessing client is not limited")
            return
        }
        // Another client's wrong tokens are not limited by the first one's guesses.
        #expect(try await sessions.login(with: "guess", from: "192.0.2.2") == .wrongToken)
        // After the window, the first client may guess again.
        #expect(
            try await sessions.login(with: "guess", from: "192.0.2.1", now: Date().addingTimeInterval(61))
                == .wrongToken)
    }

    @Test func loggingOutEndsTheSession() async throws {
        let (_, admin) = try await Self.make()
        try await Application(router: admin.router()).test(.router) { client in
            let (cookie, csrf) = try await Self.login(client, token: admin.token)
            let out = try await client.execute(
                uri: "/logout", method: .post, headers: [.cookie: cookie], body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(out.status == .seeOther)
            #expect(try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]).status == .found)
            // After login, `next` opens the page asked for, but never another site.
            let next = try await client.execute(uri: "/login?token=\(admin.token)&next=/reports/1", method: .get)
            #expect(next.headers[.location] == "/reports/1")
            let away = try await client.execute(uri: "/login?token=\(admin.token)&next=//evil.example/", method: .get)
            #expect(away.headers[.location] == "/")
        }
    }
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-dashboard")
}
