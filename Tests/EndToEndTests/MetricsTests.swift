import AsyncHTTPClient
import CampusAdmin
import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing

/// `/metrics`, `/healthz` and `/readyz` of a running Blackboard, before and after real uploads.
@Suite struct MetricsTests {
    static func get(_ url: String) async throws -> (status: UInt, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body))
    }

    /// The value of one series in the Prometheus text, 0 when absent.
    static func value(_ series: String, in text: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? -1
        }
        return 0
    }

    @Test func countersRiseAfterARealUpload() async throws {
        try await LiveServers.with(configureBlackboard: { $0.adminPort = 0 }) { servers in
            let base = AdminServer.url(try await servers.blackboard.adminAddress())
            #expect(try await Self.get(base + "healthz").status == 200)
            let ready = try await Self.get(base + "readyz")
            #expect(ready.status == 200, "\(ready.body)")
            let before = try await Self.get(base + "metrics").body
            #expect(Self.value("blackboard_messages_stored_total", in: before) == 0)

            let credentials = try await servers.enroll(sid)
            _ = try await servers.uploader().upload([Array("one".utf8), Array("two!".utf8)], as: credentials)
            _ = try await servers.uploader().upload([Array("three".utf8)], as: credentials)
            // A refused handshake: an impostor student ID.
            let other = try StudentCredentials(
                studentID: StudentID("1155000001")!, privateKey: TestKeys.pool[0],
                certificatePEM: credentials.certificatePEM)
            await #expect(throws: StudentError.self) { _ = try await servers.uploader().upload([[1]], as: other) }

            let after = try await Self.get(base + "metrics").body
            #expect(Self.value("blackboard_messages_stored_total", in: after) == 3)
            #expect(Self.value("blackboard_bytes_stored_total", in: after) == 12)
            #expect(Self.value("blackboard_receipts_signed_total", in: after) == 2)
            #expect(Self.value("blackboard_handshakes_total{outcome=\"established\"}", in: after) == 2)
            #expect(Self.value("blackboard_handshakes_total{outcome=\"sid-mismatch\"}", in: after) == 1)
            #expect(Self.value("blackboard_handshake_duration_seconds_count", in: after) == 3)
            #expect(Self.value("blackboard_commit_duration_seconds_count", in: after) >= 2)
            #expect(Self.value("blackboard_connections_open", in: after) == 0)
        }
    }

    @Test func readinessSaysWhatIsMissing() async throws {
        let missing = SecureFile.join(try temporaryDirectory(), "cuhk.cer")
        try await LiveServers.with(configureBlackboard: {
            $0.adminPort = 0
            $0.rootCertificatePath = missing
        }) { servers in
            let base = AdminServer.url(try await servers.blackboard.adminAddress())
            let ready = try await Self.get(base + "readyz")
            #expect(ready.status == 503)
            #expect(ready.body.contains("no trusted root"))
            #expect(try await Self.get(base + "healthz").status == 200)
        }
    }
}
