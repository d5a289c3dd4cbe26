import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import Testing

/// One student holds at most `--max-sessions-per-student` sessions at once, and only sessions it proved its key
/// for count: a classmate's certificate, which anyone may present, uses up none of them.
@Suite struct SessionLimitTests {
    static let limit = 2

    /// Steps 3 and 4 with `credentials`' certificate, then nothing: what someone who has only the certificate can do.
    static func presentOnly(_ credentials: StudentCredentials, on frames: FrameChannel) async throws -> Bool {
        try await frames.send(.uploadRequest(.sample(certificatePEM: credentials.certificatePEM)))
        guard case .sessionKey = try await frames.receive().message else { return false }
        guard case .blackboardSignature = try await frames.receive().message else { return false }
        return true
    }

    /// How many sessions `student` has open once Blackboard has seen them end down to `count`, or after a minute
    /// (the connections' ends reach Blackboard a moment after the client has closed them).
    static func sessions(of student: StudentID, afterFallingTo count: Int, in servers: LiveServers) async throws -> Int
    {
        let deadline = ContinuousClock.now + .seconds(60)
        while servers.blackboard.openSessions.count(of: student) > count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return servers.blackboard.openSessions.count(of: student)
    }

    @Test func aStudentHoldsAtMostTheLimitAndACertificateAloneHoldsNone() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumSessionsPerStudent = Self.limit }) { servers in
            let credentials = try await servers.enroll(sid)
            let uploader = try servers.uploader()
            let blackboard = servers.blackboardAddress
            let outcome = try await FramedClient.withConnection(to: blackboard) { imposter1 in
                try await FramedClient.withConnection(to: blackboard) { imposter2 in
                    // Two connections that present the student's certificate and stop at step 4 hold no session.
                    #expect(try await Self.presentOnly(credentials, on: imposter1))
                    #expect(try await Self.presentOnly(credentials, on: imposter2))
                    #expect(servers.blackboard.openSessions.count(of: sid) == 0)
                    return try await FramedClient.withConnection(to: blackboard) { first in
                        try await FramedClient.withConnection(to: blackboard) { second in
                            // The student's own sessions: both allowed while the imposters wait.
                            _ = try await uploader.handshake(on: first, credentials: credentials)
                            _ = try await uploader.handshake(on: second, credentials: credentials)
                            #expect(servers.blackboard.openSessions.count(of: sid) == Self.limit)
                            // A third is refused in place of `sessionSecure`.
                            let third = await StorageLimitTests.outcome {
                                try await uploader.upload([[1]], as: credentials)
                            }
                            // Another student is not affected.
                            let other = try await servers.enroll(StudentID("1155000009")!, key: TestKeys.pool[1])
                            let others = await StorageLimitTests.outcome { try await uploader.upload([[1]], as: other) }
                            #expect(others.hasPrefix("receipt"))
                            #expect(servers.blackboard.openSessions.count(of: sid) == Self.limit)
                            return third
                        }
                    }
                }
            }
            #expect(outcome == CampusError.Code.tooManySessions.name)
            // Once the sessions have ended, the student may open more, and each ends its count.
            #expect(try await Self.sessions(of: sid, afterFallingTo: 0, in: servers) == 0)
            let later = await StorageLimitTests.outcome { try await uploader.upload([[2]], as: credentials) }
            #expect(later.hasPrefix("receipt"))
            #expect(try await Self.sessions(of: sid, afterFallingTo: 0, in: servers) == 0)
        }
    }

    @Test func theRefusalNamesTheLimitAndTheStudent() async throws {
        try await LiveServers.with(configureBlackboard: { $0.maximumSessionsPerStudent = 1 }) { servers in
            let credentials = try await servers.enroll(sid)
            let uploader = try servers.uploader()
            let refusal = try await FramedClient.withConnection(to: servers.blackboardAddress) { held in
                _ = try await uploader.handshake(on: held, credentials: credentials)
                do {
                    _ = try await uploader.upload([[1]], as: credentials)
                    return nil as CampusError?
                } catch StudentError.refusedByBlackboard(let error) {
                    return error
                }
            }
            let error = try #require(refusal)
            #expect(error.code == .tooManySessions)
            #expect(error.reason.contains("\(sid)") && error.reason.contains("1 session open"))
        }
    }
}
