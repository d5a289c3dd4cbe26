import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing

/// The error frame Blackboard sends before it closes reaches the Student's library, which reports its code, rather
/// than "connection closed", also when the Student was writing (not reading) when Blackboard closed.
@Suite struct ErrorFrameDeliveryTests {
    /// The code of the refusal the Student reports, or a description of any other outcome.
    static func refusal(of upload: () async throws -> Void) async -> String {
        do {
            try await upload()
            return "a receipt"
        } catch StudentError.refusedByBlackboard(let error) {
            return error.code.name
        } catch {
            return "\(error)"
        }
    }

    @Test func aMessageOverBlackboardsFrameLimitIsReportedAsFrameTooLarge() async throws {
        // Blackboard's frame limit is then its 64 KiB floor; the Student's own limit allows 1 MiB.
        try await LiveServers.with(configureBlackboard: { $0.maximumMessageSize = 1000 }) { servers in
            let credentials = try await servers.enroll(sid)
            let big = [UInt8](repeating: 0x61, count: 1024 * 1024)
            for window in [1, 8] {
                let outcome = await Self.refusal {
                    _ = try await servers.uploader(window: window).upload(
                        [[1]] + Array(repeating: big, count: 8), as: credentials)
                }
                #expect(outcome == CampusError.Code.frameTooLarge.name, "window \(window)")
            }
        }
    }

    @Test func aSessionEndedByShutdownIsReportedAsShuttingDown() async throws {
        let lines = LineCounter()
        try await LiveServers.with(blackboardReporter: lines.reporter) { servers in
            let credentials = try await servers.enroll(sid)
            let upload = Task {
                await Self.refusal {
                    var feed = SilentFeed()
                    _ = try await UploadClient(
                        configuration: .init(
                            blackboard: servers.blackboardAddress, root: try servers.root,
                            keepAliveInterval: .milliseconds(200))
                    ).upload(from: &feed, as: credentials)
                }
            }
            while lines.count(where: { $0.hasPrefix("Session secure!") }) == 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            servers.blackboard.endConnectionsNow()
            #expect(await upload.value == CampusError.Code.shuttingDown.name)
        }
    }
}
