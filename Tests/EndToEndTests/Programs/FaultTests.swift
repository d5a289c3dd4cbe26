import CampusAuthority
import CampusBlackboard
import CampusPKI
import CampusSQLite
import CampusStudent
import CampusTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// The faults that a fault-injection run found: each test failed before its fix.
@Suite(.serialized) struct FaultTests {
    @Test func sigtermEndsASilentSessionAndAnIdleConnectionWithinTheGracePeriod() async throws {
        let servers = try await ServerProcesses.start(blackboardArguments: ["--shutdown-grace", "2"])
        defer { servers.stop() }
        let studentID = StudentID("1155000001")!
        let credentials = try await servers.enroll(studentID)
        let session = Task {
            var feed = SilentFeed()
            return try await servers.uploader(keepAliveInterval: .seconds(1)).upload(from: &feed, as: credentials)
        }
        try await waitUntil("Blackboard to show the session", every: .milliseconds(20)) {
            servers.blackboard.output.contains("Session secure! SID \(studentID)")
        }
        let idle = try await IdleConnections.open(1, to: servers.blackboardAddress)
        defer { for channel in idle { channel.close(promise: nil) } }

        let signalled = ContinuousClock.now
        servers.blackboard.signal(SIGTERM)
        let outcome = try await servers.blackboard.wait(limit: .seconds(30))
        let elapsed = ContinuousClock.now - signalled
        #expect(outcome.status == 0 && !outcome.killed)
        // The session would otherwise last as long as its keep-alives (its idle timeout is 60 s): ending well before
        // that, and not before the 2 s, is the grace period at work, with room for a loaded machine.
        #expect(elapsed < .seconds(30), "exit took \(elapsed) with a 2 s grace period")
        #expect(elapsed >= .seconds(2), "the session had its grace period")
        // The silent student hears why: its next keep-alive meets the closed connection, and the error frame that
        // came before the close is read then.
        await #expect {
            _ = try await session.value
        } throws: { error in
            guard case .refusedByBlackboard(let refusal) = error as? StudentError else { return false }
            return refusal.code == .shuttingDown
        }
    }

    /// NIO dropped a connection that the listening socket accepted while it closed, and the dropped connection's
    /// writer trapped: Blackboard crashed in its grace period (apple/swift-nio#2813). Connections keep arriving
    /// here while the signal closes the socket; the server must end by itself, with status 0, every time.
    @Test func connectionsArrivingAsTheListeningSocketClosesAreNotDropped() async throws {
        for round in 1...5 {
            let servers = try await ServerProcesses.start(blackboardArguments: ["--shutdown-grace", "1"])
            defer { servers.stop() }
            let address = servers.blackboardAddress
            // Four clients connecting one connection after another, until the socket refuses them.
            let arriving = (0..<4).map { _ in
                Task {
                    var channels: [any Channel] = []
                    while !Task.isCancelled, channels.count < 500 {
                        guard let channel = try? await IdleConnections.open(1, to: address).first else { break }
                        channels.append(channel)
                    }
                    for channel in channels { channel.close(promise: nil) }
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            servers.blackboard.signal(SIGTERM)
            let outcome = try await servers.blackboard.wait(limit: .seconds(60))
            for task in arriving {
                task.cancel()
                await task.value
            }
            #expect(
                outcome.status == 0 && !outcome.killed,
                "round \(round): status \(outcome.status)\n\(servers.blackboard.errorOutput.suffix(2000))")
        }
    }

    @Test func aSecondSignalEndsSessionsAtOnce() async throws {
        let servers = try await ServerProcesses.start(blackboardArguments: ["--shutdown-grace", "60"])
        defer { servers.stop() }
        let idle = try await IdleConnections.open(3, to: servers.blackboardAddress)
        defer { for channel in idle { channel.close(promise: nil) } }
        try await Task.sleep(for: .milliseconds(200))
        servers.blackboard.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        #expect(servers.blackboard.process.isRunning, "the grace period is 60 s")
        let signalled = ContinuousClock.now
        servers.blackboard.signal(SIGTERM)
        let outcome = try await servers.blackboard.wait(limit: .seconds(30))
        // Well within the 60 s grace period: the second signal ended the connections.
        #expect(ContinuousClock.now - signalled < .seconds(30))
        #expect(outcome.status == 0)
    }

    @Test func killingBlackboardDuringAnUploadLosesNoAcknowledgedMessage() async throws {
        for round in 1...2 {
            let servers = try await ServerProcesses.start()
            defer { servers.stop() }
            let studentID = StudentID("11550000\(10 + round)")!
            let credentials = try await servers.enroll(studentID)
            let acknowledgements = LineCounter()
            let contents = (1...20000).map { index in
                Array("message \(index) ".utf8) + [UInt8](repeating: 0x61, count: 900)
            }
            let upload = Task {
                try await servers.uploader(
                    observer: SessionObserver(side: .student, reporter: acknowledgements.reporter)
                ).upload(contents, as: credentials)
            }
            let acknowledged = { acknowledgements.count { $0.hasPrefix("Blackboard stored message") } }
            try await waitUntil("\(40 * round) acknowledgements") { acknowledged() >= 40 * round }
            servers.blackboard.signal(SIGKILL)
            _ = try await servers.blackboard.wait()
            guard case .failure = await upload.result else {
                Issue.record("the upload finished before Blackboard was killed")
                continue
            }
            let told = acknowledged()

            let store = try SQLiteBlackboardStore(
                path: SecureFile.join(servers.directory, SQLiteBlackboardStore.fileName), checkWrites: false)
            let sessions = try await store.messages(for: studentID)
            #expect(sessions.count == 1)
            let stored = sessions.first ?? []
            #expect(stored.count >= told, "\(told) acknowledged, \(stored.count) stored")
            #expect(stored.map(\.sequence) == (0..<UInt64(stored.count)).map { $0 + 1 })
            #expect(stored.allSatisfy { $0.content == contents[Int($0.sequence) - 1] })
        }
    }

    @Test func killingCUHKDuringEnrollmentsLeavesNoHeldCertificateUnrecorded() async throws {
        let servers = try await ServerProcesses.start()
        defer { servers.stop() }
        let held = SerialList()
        let counters = EnrollmentCounters()
        // Each worker enrolls one student after another until CUHK is gone, so enrollments are in flight when it is
        // killed however fast or slow this machine is.
        let workers = 16
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    while true {
                        let index = counters.nextIndex()
                        guard index < 20_000 else { return }
                        let studentID = StudentID("11551\(String(format: "%05d", index))")!
                        guard let credentials = try? await servers.enroll(studentID, key: TestKeys.pool[worker % 4])
                        else {
                            counters.workerStopped()
                            return
                        }
                        held.append(credentials.certificate.serialNumber.hex)
                    }
                }
            }
            group.addTask {
                try await waitUntil("20 certificates", every: .milliseconds(2)) { held.count >= 20 }
                servers.cuhk.signal(SIGKILL)
            }
            try await group.waitForAll()
        }
        let registry = try SQLiteAuthorityStore(
            path: SecureFile.join(servers.directory, SQLiteAuthorityStore.fileName), checkWrites: false)
        let recorded = try await registry.certificates(for: nil).map(\.serial)
        let serials = held.all
        #expect(serials.count >= 20, "\(serials.count) enrollments finished")
        #expect(counters.stoppedWorkers == workers, "every worker stopped at the kill")
        #expect(Set(serials).isSubset(of: Set(recorded)), "a student holds a certificate the registry lacks")
        #expect(Set(recorded).count == recorded.count, "a serial is recorded twice")
    }

    @Test(arguments: RootAuthority.CreationStep.allCases)
    func aCUHKKilledWhileCreatingItsRootStartsAgain(at step: RootAuthority.CreationStep) async throws {
        let directory = try temporaryDirectory()
        let crashed = try await Program.cuhk.run(
            ["init", "--dir", "root"], in: directory, environment: ["CAMPUSPKI_CRASH_AT": step.rawValue])
        #expect(crashed.killed && crashed.status == SIGKILL)
        let again = try await Program.cuhk.run(["init", "--dir", "root"], in: directory)
        #expect(again.status == 0, "\(again.all)")
        // Once both files are staged the creation is finished; before that it is discarded and done again.
        #expect(again.output.contains(step == .stagedKey ? "Root created" : "Root already present"))
        #expect(SecureFile.exists(SecureFile.join(directory, "root/cuhk.key")))
        #expect(SecureFile.exists(SecureFile.join(directory, "root/cuhk.cer")))
        #expect(!SecureFile.exists(SecureFile.join(directory, "root/\(RootAuthority.stagingDirectoryName)")))
        // And the pair is whole: `init` loads and checks that the key belongs to the certificate.
        #expect(try await Program.cuhk.run(["init", "--dir", "root"], in: directory).status == 0)
    }

    @Test func runningOutOfFileDescriptorsBacksOffInsteadOfSpinning() async throws {
        let directory = try temporaryDirectory()
        let blackboard = try Program.blackboard.start(
            ["--port", "0", "--max-connections", "1000", "--handshake-timeout", "60"], in: directory,
            descriptorLimit: 64)
        defer { blackboard.signal(SIGKILL) }
        let address = try await blackboard.address()
        let connections = try await IdleConnections.open(150, to: address)
        try await Task.sleep(for: .milliseconds(500))
        let before = cpuSeconds(of: blackboard.pid)
        try await Task.sleep(for: .seconds(2))
        let used = cpuSeconds(of: blackboard.pid) - before
        #expect(used < 0.5, "Blackboard used \(used) s of CPU in 2 s while out of descriptors")
        let reports = blackboard.errorOutput.components(separatedBy: "cannot accept connections").count - 1
        #expect(reports >= 1 && reports <= 2, "accept failures logged \(reports) times:\n\(blackboard.errorOutput)")
        for channel in connections { try? await channel.close() }
        // Still serving: a frame that is not a CampusPKI message gets its error frame.
        let answer = try await RawClient.errorCode(address, sending: [0, 0, 0, 2, 9, 9])
        #expect(answer == .unsupportedVersion)
    }

    /// The HTTP ports pause accepting at the descriptor limit as the framed ports do, and serve again after.
    @Test func theOCSPPortBacksOffWhenOutOfFileDescriptors() async throws {
        let directory = try temporaryDirectory()
        let cuhk = try Program.cuhk.start(
            Program.patientCUHK + ["--port", "0", "--ocsp-port", "0", "--no-admin", "--open-enrollment"], in: directory,
            descriptorLimit: 64)
        defer { cuhk.signal(SIGKILL) }
        let ocsp = try await cuhk.address(announcedBy: "ocsp listening on ")
        let connections = try await IdleConnections.open(150, to: ocsp)
        var reported = false
        for _ in 0..<600 where !reported {
            reported = cuhk.errorOutput.contains("cannot accept connections")
            if !reported { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(reported, "no accept failure logged:\n\(cuhk.errorOutput)")
        for channel in connections { try? await channel.close() }
        // Still serving: an HTTP answer on the OCSP port, and an error frame on the enrollment port.
        let answer = try await RawClient.exchange(
            ocsp, sending: Array("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".utf8))
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 "))
        let framed = try await cuhk.address()
        #expect(try await RawClient.errorCode(framed, sending: [0, 0, 0, 2, 9, 9]) == .unsupportedVersion)
    }
}

/// Serials collected by concurrent tasks.
/// The next student index to enroll, and how many workers have stopped.
final class EnrollmentCounters: Sendable {
    private let state = Mutex((next: 0, stopped: 0))

    func nextIndex() -> Int {
        state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
    }
    func workerStopped() { state.withLock { $0.stopped += 1 } }
    var stoppedWorkers: Int { state.withLock { $0.stopped } }
}

final class SerialList: Sendable {
    private let serials = Mutex<[String]>([])

    func append(_ serial: String) { serials.withLock { $0.append(serial) } }
    var count: Int { serials.withLock { $0.count } }
    var all: [String] { serials.withLock { $0 } }
}
