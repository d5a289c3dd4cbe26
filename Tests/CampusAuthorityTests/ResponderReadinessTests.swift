import CampusAdmin
import CampusPKI
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Testing

@testable import CampusAuthority

/// CUHK is ready only while its OCSP responder listens and answers.
@Suite struct ResponderReadinessTests {
    @Test func theRespondersReadinessSaysWhetherItAnswers() async throws {
        let server = OCSPHTTPServer(
            configuration: .init(port: 0),
            responder: OCSPResponder(root: DashboardFixture.root, registry: InMemoryAuthorityStore()),
            logger: DashboardFixture.quiet)
        #expect(await server.readiness() == ["the OCSP responder is not listening"])
        let running = Task { try await server.run() }
        let address = try await server.bound.value()
        #expect(await server.readiness(timeout: .seconds(30)) == [])
        running.cancel()
        _ = await running.result
        let problems = await server.readiness()
        #expect(problems == ["the OCSP responder at \(address.hostAndPort) does not answer: connection refused"])
    }

    @Test func cuhkIsNotReadyWithoutItsResponder() async throws {
        let directory = try temporaryDirectory()
        try RootAuthority.create(DashboardFixture.root, in: directory, checkpoint: { _ in })
        // A responder that cannot listen: its port is taken.
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { taken.close(promise: nil) }
        let server = try await CUHKServer(
            configuration: .init(directory: directory, port: 0, ocspPort: taken.localAddress?.port, adminPort: 0),
            store: InMemoryAuthorityStore(), logger: DashboardFixture.quiet)
        await #expect(throws: (any Error).self) { try await server.run() }
        let admin = try #require(server.admin)
        try await Application(router: admin.router()).test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(String(buffer: ready.body) == "the OCSP responder is not listening\n")
        }
        // Running, with its responder: ready.
        try await DashboardFixture.with(ocspPort: 0) { _, client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == "ready\n")
        }
    }
}
