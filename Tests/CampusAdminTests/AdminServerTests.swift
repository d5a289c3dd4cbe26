import CampusAdmin
import CampusPKI
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
    var template = Array((NSTemporaryDirectory() + "campuspki-admin-XXXXXX").utf8CString)
    guard let path = mkdtemp(&template) else { throw CampusError(.internalError, "mkdtemp failed") }
    return String(cString: path)
}

@Suite struct AdminServerTests {
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
