import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import Testing

/// What one student may store is bounded: reports per assignment, bytes per report, bytes in all.
@Suite struct StorageLimitTests {
    static func outcome(_ upload: () async throws -> UploadClient.Result) async -> String {
        do {
            return "receipt \(try await upload().receipt.document.report)"
        } catch StudentError.refusedByBlackboard(let error) {
            return error.code.name
        } catch {
            return "\(error)"
        }
    }

    @Test func aReportOverItsSizeIsRefusedWhileItArrives() async throws {
        let limits = StorageLimits(reportsPerAssignment: 5, reportBytes: 100, studentBytes: 10_000)
        try await LiveServers.with(configureBlackboard: { $0.limits = limits }) { servers in
            let credentials = try await servers.enroll(sid)
            let fits = await Self.outcome {
                try await servers.uploader().upload([[UInt8](repeating: 1, count: 100)], as: credentials)
            }
            #expect(fits.hasPrefix("receipt"))
            let tooLarge = await Self.outcome {
                try await servers.uploader(window: 1).upload(
                    [[UInt8](repeating: 1, count: 60), [UInt8](repeating: 2, count: 60)], as: credentials)
            }
            #expect(tooLarge == CampusError.Code.reportTooLarge.name)
            // The first message was stored (and acknowledged) before the refusal; it counts for the student.
            #expect(try await servers.blackboard.store.usage(of: sid, in: "report").storedBytes == 160)
        }
    }

    @Test func aStudentsStorageIsBoundedAtTheHandshakeAndWhileReceiving() async throws {
        let limits = StorageLimits(reportsPerAssignment: 5, reportBytes: 1000, studentBytes: 150)
        try await LiveServers.with(configureBlackboard: { $0.limits = limits }) { servers in
            let credentials = try await servers.enroll(sid)
            let first = await Self.outcome {
                try await servers.uploader().upload([[UInt8](repeating: 1, count: 100)], as: credentials)
            }
            #expect(first.hasPrefix("receipt"))
            let over = await Self.outcome {
                try await servers.uploader().upload([[UInt8](repeating: 1, count: 60)], as: credentials)
            }
            #expect(over == CampusError.Code.storageQuotaExceeded.name)
            let fits = await Self.outcome {
                try await servers.uploader().upload([[UInt8](repeating: 1, count: 50)], as: credentials)
            }
            #expect(fits.hasPrefix("receipt"))
            // Full: refused at the handshake, before anything is sent.
            let full = await Self.outcome { try await servers.uploader().upload([[1]], as: credentials) }
            #expect(full == CampusError.Code.storageQuotaExceeded.name)
            // Another student is not affected.
            let other = try await servers.enroll(StudentID("1155000009")!, key: TestKeys.pool[1])
            #expect(await Self.outcome { try await servers.uploader().upload([[1]], as: other) }.hasPrefix("receipt"))
        }
    }

    @Test func reportsPerAssignmentAreCountedAtTheHandshakeAndAtTheCommit() async throws {
        let limits = StorageLimits(reportsPerAssignment: 2, reportBytes: 1000, studentBytes: 10_000)
        try await LiveServers.with(configureBlackboard: { $0.limits = limits }) { servers in
            let credentials = try await servers.enroll(sid)
            #expect(
                await Self.outcome { try await servers.uploader().upload([[1]], as: credentials) }.hasPrefix("receipt"))
            // Two sessions open at once, each allowed at its handshake; the second to commit is refused.
            let uploader = try servers.uploader()
            let answer = try await FramedClient.withConnection(to: servers.blackboardAddress) {
                frames -> WireMessage in
                var records = try await uploader.handshake(on: frames, credentials: credentials).records
                try await frames.send(records.seal([2]).0)
                #expect(try records.receive(try await frames.receive().message) == .acknowledged(1))
                let second = await Self.outcome { try await uploader.upload([[3]], as: credentials) }
                #expect(second.hasPrefix("receipt"))
                try await frames.send(records.end())
                return try await frames.receive().message
            }
            guard case .error(let error) = answer else {
                Issue.record("Blackboard answered \(answer.kind.phrase)")
                return
            }
            #expect(error.code == .reportLimitReached)
            // Now the limit is known at the handshake.
            let third = await Self.outcome { try await servers.uploader().upload([[4]], as: credentials) }
            #expect(third == CampusError.Code.reportLimitReached.name)
            #expect(try await servers.blackboard.store.reports(for: sid).count == 2)
        }
    }
}
