import CampusAdmin
import CampusPKI
import CampusTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A web interface with one page behind the login, and readiness checks that count their runs.
struct AdminSite: Sendable {
    let admin: AdminServer
    let probes: Counter

    final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    static func make(readinessInterval: Duration = .seconds(3600)) throws -> AdminSite {
        let directory = try temporaryDirectory()
        let probes = Counter()
        let pages = try AdminPages(
            site: "Test", navigation: [("/", "Home")], templates: ["home": "<p>home of {{csrf}}</p>"])
        let admin = try AdminServer(
            configuration: .init(
                port: 0, tokenPath: SecureFile.join(directory, AdminToken.fileName(for: "test")),
                readinessInterval: readinessInterval),
            pages: pages, metrics: ServerMetrics(), logger: TestSite.quiet,
            readiness: {
                probes.increment()
                return []
            },
            routes: { group, pages in
                group.get("/") { _, context in pages.page("home", title: "Home", session: context.session) }
                group.get("assignments/:name") { _, context in
                    pages.page("home", title: "Home", session: context.session)
                }
            })
        return AdminSite(admin: admin, probes: probes)
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: admin.router()).test(.router, body)
    }
}

func temporaryDirectory() throws -> String {
    try TestScratch.makeDirectory("campuspki-admin")
}

@Suite struct AdminServerTests {
    /// A `next` a browser would follow to another host, however it is written.
    static let elsewhere = [
        "/%09/evil.example", "/\\evil", "/%5Cevil", "%2F%2Fevil", "https://evil", "//evil", "/%0A/evil", "/%0D%0A/evil",
        " //evil", "%01//evil", "\\\\evil", "/\\/evil", "javascript:alert(1)", "evil", "",
    ]

    @Test(arguments: elsewhere)
    func aLoginNeverRedirectsElsewhere(_ next: String) async throws {
        let site = try AdminSite.make()
        try await site.test { client in
            // In the URL, `next` is as written (escapes included); in the form, the same text escaped once more.
            var query = CharacterSet.urlQueryAllowed
            query.insert("%")
            query.remove(charactersIn: "&+=#")
            let escaped = try #require(next.addingPercentEncoding(withAllowedCharacters: query))
            let viaQuery = try await client.execute(
                uri: "/login?token=\(site.admin.token)&next=\(escaped)", method: .get)
            #expect(viaQuery.status == .seeOther)
            #expect(viaQuery.headers[.location] == LoginRedirect.home)
            let decoded = next.removingPercentEncoding ?? next
            let form =
                "token=\(site.admin.token)&next="
                + (decoded.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            let viaForm = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: form))
            #expect(viaForm.status == .seeOther)
            #expect(viaForm.headers[.location] == LoginRedirect.home)
        }
    }

    @Test func aLoginOpensThePageOnThisSiteThatWasAskedFor() async throws {
        let site = try AdminSite.make()
        try await site.test { client in
            let page = try await client.execute(
                uri: "/login?token=\(site.admin.token)&next=/assignments/a1%3Fx%3D1", method: .get)
            #expect(page.headers[.location] == "/assignments/a1?x=1")
            let form = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(site.admin.token)&next=%2Fassignments%2Fa1%3Fx%3D1"))
            #expect(form.headers[.location] == "/assignments/a1?x=1")
        }
        // As a browser parses it: tabs and newlines go, a space or control byte is escaped, never a header break.
        #expect(LoginRedirect.target("/assign\tments/a 1") == "/assignments/a%201")
        #expect(LoginRedirect.target("/a\u{01}b\r\nc") == "/a%01bc")
        #expect(LoginRedirect.target("/r\u{E9}sum\u{E9}") == "/r%C3%A9sum%C3%A9")
        #expect(LoginRedirect.target(nil) == LoginRedirect.home)
    }

    @Test func theRightTokenLogsInAfterAnyNumberOfFailuresFromTheSameAddress() async throws {
        let token = String(repeating: "a", count: 64)
        let sessions = AdminSessions(token: token)
        let now = Date()
        for attempt in 0..<(AdminSessions.failuresAllowed * 4) {
            let result = try await sessions.login(with: "guess\(attempt)", from: "192.0.2.1", now: now)
            if attempt < AdminSessions.failuresAllowed {
                #expect(result == .wrongToken)
            } else {
                guard case .rateLimited(let seconds) = result else {
                    Issue.record("guess \(attempt) over the budget was not limited: \(result)")
                    continue
                }
                #expect(seconds == Int(AdminSessions.failureWindow))
            }
        }
        // The address behind which everyone sits (a proxy, or loopback) still logs in with the token.
        guard case .session = try await sessions.login(with: token, from: "192.0.2.1", now: now) else {
            Issue.record("the right token was refused after another client's failures")
            return
        }
        // Another address has its own budget.
        #expect(try await sessions.login(with: "guess", from: "192.0.2.2", now: now) == .wrongToken)
        // After the window, the first address may guess again.
        #expect(
            try await sessions.login(with: "guess", from: "192.0.2.1", now: now + AdminSessions.failureWindow + 1)
                == .wrongToken)
    }

    @Test func theFailureTableStaysBounded() async throws {
        let sessions = AdminSessions(token: String(repeating: "a", count: 64))
        let now = Date()
        for client in 0..<(AdminSessions.maximumTrackedClients + 500) {
            _ = try await sessions.login(with: "guess", from: "10.0.\(client / 256).\(client % 256)", now: now)
        }
        #expect(sessions.trackedClients <= AdminSessions.maximumTrackedClients)
        #expect(sessions.trackedClients > 0)
    }

    @Test func overHTTPTheRightTokenIsNeverRefused() async throws {
        let site = try AdminSite.make()
        try await site.test { client in
            for _ in 0..<AdminSessions.failuresAllowed {
                #expect(try await client.execute(uri: "/login?token=wrong", method: .get).status == .unauthorized)
            }
            #expect(try await client.execute(uri: "/login?token=wrong", method: .get).status == .tooManyRequests)
            let right = try await client.execute(uri: "/login?token=\(site.admin.token)", method: .get)
            #expect(right.status == .seeOther)
            #expect(right.headers[.setCookie]?.hasPrefix(AdminAuthMiddleware.cookieName + "=") == true)
        }
    }

    @Test func readinessIsCheckedAtMostOncePerInterval() async throws {
        let site = try AdminSite.make()
        try await site.test { client in
            for _ in 0..<10 {
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok)
                #expect(String(buffer: ready.body) == "ready\n")
                #expect(try await client.execute(uri: "/readyz", method: .head).status == .ok)
            }
        }
        #expect(site.probes.count == 1)
    }

    @Test func aCachedProbeRunsAgainAfterItsIntervalAndOnceForConcurrentCallers() async throws {
        let clock = Mutex(ContinuousClock.now)
        let runs = AdminSite.Counter()
        let gate = AsyncStream<Void>.makeStream()
        let probe = CachedProbe(interval: .seconds(5), now: { clock.withLock { $0 } }) { () async -> Int in
            runs.increment()
            if runs.count == 1 {
                // The first run waits until every caller has asked.
                for await _ in gate.stream { break }
            }
            return runs.count
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 { group.addTask { await probe.value() } }
            // The callers are waiting on the one run: let it finish.
            while runs.count == 0 { await Task.yield() }
            gate.continuation.yield()
            var values: [Int] = []
            for try await value in group { values.append(value) }
            #expect(values.allSatisfy { $0 == 1 })
        }
        #expect(runs.count == 1)
        clock.withLock { $0 += .seconds(4) }
        #expect(await probe.value() == 1)
        clock.withLock { $0 += .seconds(2) }
        #expect(await probe.value() == 2)
        #expect(runs.count == 2)
    }

    @Test func headAnswersWhereverGetDoesWithTheSameStatusAndHeaders() async throws {
        let site = try AdminSite.make()
        try await site.test { client in
            let login = try await client.execute(uri: "/login?token=\(site.admin.token)", method: .get)
            let cookie = try #require(login.headers[.setCookie].map { String($0.prefix { $0 != ";" }) })
            let cases: [(String, HTTPFields)] = [
                ("/healthz", [:]), ("/readyz", [:]), ("/metrics", [:]), ("/login", [:]), ("/", [:]),
                ("/assignments/a1", [:]), ("/", [.cookie: cookie]), ("/assignments/a1", [.cookie: cookie]),
                ("/no-such-page", [.cookie: cookie]),
            ]
            for (uri, headers) in cases {
                let get = try await client.execute(uri: uri, method: .get, headers: headers)
                let head = try await client.execute(uri: uri, method: .head, headers: headers)
                #expect(head.status == get.status, "\(uri)")
                #expect(head.status != .notFound || uri == "/no-such-page", "\(uri)")
                #expect(head.body.readableBytes == 0, "\(uri)")
                for name in [HTTPField.Name.contentType, .contentLength, .location, .cacheControl] {
                    #expect(head.headers[name] == get.headers[name], "\(uri) \(name)")
                }
            }
        }
    }
}
