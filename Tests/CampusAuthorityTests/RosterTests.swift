import CampusPKI
import CampusSQLite
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import CampusAuthority

@Suite struct EnrollmentCodeTests {
    @Test func codesAreTwentyBase32CharactersInGroupsOfFour() {
        let code = EnrollmentCode.random()
        #expect(code.canonical.count == 20)
        #expect(code.canonical.allSatisfy { EnrollmentCode.alphabet.contains($0) })
        #expect(code.description.split(separator: "-").map(\.count) == [4, 4, 4, 4, 4])
        #expect(Set((0..<50).map { _ in EnrollmentCode.random() }).count == 50)
    }

    @Test func readingIsForgiving() throws {
        let code = try #require(EnrollmentCode("7K3Q-M9XA-2C4R-TV8H-N5PW"))
        #expect(EnrollmentCode("7k3qm9xa2c4rtv8hn5pw") == code)
        #expect(EnrollmentCode(" 7K3Q M9XA 2C4R TV8H N5PW ") == code)
        #expect(EnrollmentCode("IL00-0000-0000-0000-0000")?.canonical == "11000000000000000000")
        #expect(EnrollmentCode("oO00-0000-0000-0000-0000")?.canonical == "00000000000000000000")
        #expect(EnrollmentCode("7K3Q-M9XA-2C4R-TV8H") == nil)  // 16 characters
        #expect(EnrollmentCode("7K3Q-M9XA-2C4R-TV8H-N5PU") == nil)  // U is not in the alphabet
    }
}

@Suite struct RosterCSVTests {
    @Test func readsNamesEmailsAndQuotedCommas() throws {
        let entries = try RosterCSV.parse(
            "sid,name,email\r\n1155123456,\"Chan, Tai Man\",tm@example.edu\n1155000002,Lee,\n")
        #expect(
            entries == [
                RosterEntry(studentID: StudentID("1155123456")!, name: "Chan, Tai Man", email: "tm@example.edu"),
                RosterEntry(studentID: StudentID("1155000002")!, name: "Lee", email: nil),
            ])
    }

    /// What Excel's "CSV UTF-8" writes: a byte order mark, CRLF line ends, quotes where a cell needs them, a
    /// header typed by a person, and the empty rows below the table.
    @Test func readsWhatASpreadsheetWrites() throws {
        let text =
            "\u{FEFF} SID , Name ,E-Mail\r\n1155123456,\"Chan, \"\"Tai Man\"\"\",tm@example.edu\r\n"
            + "1155000002, \"Lee\r\nSiu Ming\" ,\r\n,,\r\n\r\n\r\n"
        let expected = [
            RosterEntry(studentID: StudentID("1155123456")!, name: "Chan, \"Tai Man\"", email: "tm@example.edu"),
            RosterEntry(studentID: StudentID("1155000002")!, name: "Lee\r\nSiu Ming", email: nil),
        ]
        #expect(try RosterCSV.parse(bytes: Array(text.utf8)) == expected)
        // UTF-16 with a byte order mark, little- and big-endian.
        let units = Array(text.utf16)
        let little: [UInt8] =
            [0xFF, 0xFE] + units.flatMap { unit -> [UInt8] in [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        let big: [UInt8] = [0xFE, 0xFF] + units.flatMap { unit -> [UInt8] in [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        #expect(try RosterCSV.parse(bytes: little) == expected)
        #expect(try RosterCSV.parse(bytes: big) == expected)
        // Spreadsheets in locales with a decimal comma separate with semicolons.
        #expect(
            try RosterCSV.parse("sid;name\r\n1155123456;Chan, Tai Man\r\n")
                == [RosterEntry(studentID: StudentID("1155123456")!, name: "Chan, Tai Man")])
        #expect(try RosterCSV.parse("sid\tname\n1155123456\tChan\n").map(\.name) == ["Chan"])
    }

    @Test func aFieldThatIsNeverClosedOrTextThatIsNotUTF8IsNamedByLine() {
        #expect {
            _ = try RosterCSV.parse("sid,name\n1155123456,\"Chan\n1155000002,Lee\n")
        } throws: { error in
            (error as? RosterCSV.ImportError)?.problems.map(\.line) == [2]
        }
        // Latin-1 "é" on line 3: the plain CSV of some spreadsheets.
        let latin1 = Array("sid,name\n1155123456,Chan\n1155000002,Ren".utf8) + [0xE9, 0x0A]
        #expect {
            _ = try RosterCSV.parse(bytes: latin1)
        } throws: { error in
            guard let problem = (error as? RosterCSV.ImportError)?.problems.first else { return false }
            return problem.line == 3 && problem.problem.contains("save it as CSV UTF-8")
        }
    }

    @Test func reportsEveryBadRowWithItsLineNumberAndImportsNothing() {
        let text = "name,sid\nA,1155123456\nB,115512345\nC,1155123456\n,1155000003\n"
        #expect {
            _ = try RosterCSV.parse(text)
        } throws: { error in
            guard let error = error as? RosterCSV.ImportError else { return false }
            return error.problems.map(\.line) == [3, 4, 5]
                && error.problems[1].problem == "SID 1155123456 is already on line 2"
        }
        #expect(throws: RosterCSV.ImportError.self) { try RosterCSV.parse("student,name\n1155123456,A\n") }
    }
}

@Suite struct RosterEnrollmentTests {
    static let root = try! RootAuthority.make()
    let sid = StudentID("1155123456")!

    struct Setup {
        var registry: SQLiteAuthorityStore
        var authority: CertificateAuthority
        var path: String
    }

    func setup(throttle budget: EnrollmentThrottle.Configuration = .init(attempts: 3, duration: 600)) async throws
        -> Setup
    {
        let path = SecureFile.join(try temporaryDirectory(), "cuhk.db")
        let registry = try SQLiteAuthorityStore(path: path)
        _ = try await registry.importRoster([RosterEntry(studentID: sid, name: "Chan Tai Man")])
        let authority = CertificateAuthority(
            root: Self.root, registry: registry, enrollment: .roster(budget), roster: registry,
            throttle: EnrollmentThrottle(configuration: budget, records: registry))
        return Setup(registry: registry, authority: authority, path: path)
    }

    func code(_ setup: Setup, for studentID: StudentID? = nil, validFor: TimeInterval = 3600, now: Date = Date())
        async throws -> EnrollmentCode
    {
        let code = EnrollmentCode.random()
        #expect(
            try await setup.registry.storeCode(
                code, for: studentID ?? sid, issuedAt: now, expiresAt: now.addingTimeInterval(validFor)))
        return code
    }

    static let address = SourceAddress("198.51.100.7")!

    /// Issues as CUHK's handler does, with the proof of `code` made for the CSR.
    @discardableResult
    func issue(
        _ setup: Setup, cn: String = "1155123456", key: _RSA.Signing.PrivateKey = TestKeys.student,
        code: EnrollmentCode?, from source: SourceAddress? = address, now: Date = Date()
    ) async throws -> IssuedCertificate {
        let csr = try makeCSR(cn: [cn], key: key)
        return try await setup.authority.issue(
            csrPEM: csr, proof: try codeProof(code, csrPEM: csr), transcriptDigest: channelDigest, from: source,
            now: now
        ).0
    }

    func refusal(
        _ setup: Setup, cn: String = "1155123456", key: _RSA.Signing.PrivateKey = TestKeys.student,
        code: EnrollmentCode?, from source: SourceAddress? = address, now: Date = Date()
    ) async -> CampusError? {
        do {
            try await issue(setup, cn: cn, key: key, code: code, from: source, now: now)
            return nil
        } catch {
            return error as? CampusError
        }
    }

    @Test func aRosterStudentEnrollsOnceWithTheirCode() async throws {
        let setup = try await setup()
        let code = try await code(setup)
        let issued = try await issue(setup, code: code)
        #expect(issued.studentID == sid)
        #expect(await refusal(setup, key: TestKeys.other, code: code)?.code == .codeUsed)
        #expect(try await setup.registry.codes().first?.usedAt != nil)
        // The same CSR key again (an answer that was lost) gets the same certificate, and nothing new is recorded.
        #expect(try await issue(setup, code: code).serial == issued.serial)
        #expect(try await setup.registry.certificates(for: sid).count == 1)
    }

    @Test func aProofForAnotherChannelOrAnotherCSRIsAWrongCode() async throws {
        let setup = try await setup()
        let code = try await code(setup)
        let csr = try makeCSR()
        let relayed = EnrollmentCodeProof.make(
            code: code, transcriptDigest: Array(repeating: 1, count: 32),
            csrDER: try PEMDocument(pemString: csr).derBytes)
        let forAnotherCSR = try codeProof(code, csrPEM: try makeCSR(key: TestKeys.other))
        for proof in [relayed, forAnotherCSR] {
            await #expect {
                _ = try await setup.authority.issue(csrPEM: csr, proof: proof, transcriptDigest: channelDigest)
            } throws: { ($0 as? CampusError)?.code == .enrollmentDenied }
        }
        #expect(try await setup.registry.codes().first?.usedAt == nil)
    }

    @Test func anUnknownSIDAndAWrongCodeGetTheSameAnswer() async throws {
        let setup = try await setup(throttle: .init(attempts: 100))
        _ = try await code(setup)
        let wrong = await refusal(setup, code: EnrollmentCode.random())
        let unknown = await refusal(setup, cn: "1155000009", code: EnrollmentCode.random())
        #expect(wrong?.code == .enrollmentDenied && unknown?.code == .enrollmentDenied)
        #expect(wrong?.reason == unknown?.reason)
        // The operator's log tells them apart.
        #expect(wrong?.detail?.contains("wrong code") == true)
        #expect(unknown?.detail?.contains("not on the roster") == true)
        #expect(await refusal(setup, code: nil)?.code == .enrollmentDenied)
    }

    @Test func anExpiredCodeIsRefused() async throws {
        let setup = try await setup()
        let now = Date()
        let code = try await code(setup, validFor: 60, now: now)
        #expect(await refusal(setup, code: code, now: now.addingTimeInterval(61))?.code == .codeExpired)
    }

    /// Nobody can lock a student out: hundreds of wrong codes for one student ID, from many addresses, and the
    /// student's right code still works, from an address of its own and from one of theirs.
    @Test func failuresForOneSIDFromOtherAddressesNeverStopItsRightCode() async throws {
        let setup = try await setup(throttle: .init(attempts: 3, duration: 600))
        let code = try await code(setup)
        let attackers = (1...50).map { SourceAddress("203.0.113.\($0)")! }
        for attacker in attackers {
            for _ in 0..<5 { _ = await refusal(setup, code: EnrollmentCode.random(), from: attacker) }
        }
        #expect(try await setup.registry.throttledAddresses(at: Date()).count == 50)
        #expect(try await issue(setup, code: code, from: SourceAddress("192.0.2.1")).studentID == sid)
        let again = try await self.code(setup)
        #expect(try await issue(setup, key: TestKeys.other, code: again, from: attackers[0]).studentID == sid)
    }

    /// A student ID CUHK does not know leaves nothing in cuhk.db.
    @Test func anUnknownSIDLeavesNoRow() async throws {
        let setup = try await setup(throttle: .init(attempts: 100))
        let unknown = "1155999999"
        for _ in 0..<5 {
            #expect(await refusal(setup, cn: unknown, code: EnrollmentCode.random())?.code == .enrollmentDenied)
        }
        #expect(await refusal(setup, cn: unknown, code: nil, from: nil)?.code == .enrollmentDenied)
        // SQLite keeps TEXT as UTF-8: a row anywhere with the SID would show its digits in the file or its log.
        let needle = Array(unknown.utf8)
        for path in [setup.path, setup.path + "-wal"] {
            let bytes = try SecureFile.readBytes(at: path, limit: 64 << 20) ?? []
            let found =
                bytes.count >= needle.count
                && (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
            #expect(!found, "\(path) holds \(unknown)")
        }
        // And the bytes searched are where the store writes: the known student's SID is there.
        let known = Array(sid.rawValue.utf8)
        let written = try [setup.path, setup.path + "-wal"].map {
            try SecureFile.readBytes(at: $0, limit: 64 << 20) ?? []
        }
        #expect(
            written.contains { bytes in
                bytes.count >= known.count
                    && (0...(bytes.count - known.count)).contains {
                        bytes[$0..<($0 + known.count)].elementsEqual(known)
                    }
            })
    }

    /// An address that used up its attempts is throttled (113, with when to try again), written down for the
    /// instructor to see and clear; its right code still works, and other addresses are not affected.
    @Test func anAddressOverBudgetIsThrottledButItsRightCodeStillWorks() async throws {
        let setup = try await setup(throttle: .init(attempts: 3, duration: 600))
        let code = try await code(setup)
        let now = Date()
        for _ in 0..<3 {
            #expect(await refusal(setup, code: EnrollmentCode.random(), now: now)?.code == .enrollmentDenied)
        }
        let throttled = await refusal(setup, code: EnrollmentCode.random(), now: now)
        #expect(throttled?.code == .enrollmentThrottled)
        #expect(throttled?.reason.contains((now + 600).formatted(.iso8601)) == true)
        #expect(throttled?.reason.contains("a right code is accepted") == true)
        let listed = try await setup.registry.throttledAddresses(at: now)
        #expect(listed.map(\.address) == [Self.address])
        // Another address is not affected.
        #expect(
            await refusal(setup, code: EnrollmentCode.random(), from: SourceAddress("198.51.100.8"), now: now)?.code
                == .enrollmentDenied)
        // The right code, from the throttled address.
        #expect(try await issue(setup, code: code, now: now).studentID == sid)
        // Cleared, the address starts afresh; and the list ends by itself.
        #expect(try await setup.registry.clearThrottle(Self.address) == 1)
        #expect(await refusal(setup, code: EnrollmentCode.random(), now: now)?.code == .enrollmentDenied)
        #expect(try await setup.registry.throttledAddresses(at: now + 601).isEmpty)
    }

    /// The counts of addresses under their budget are bounded in memory, and so is the list in cuhk.db.
    @Test func theThrottlesMemoryIsBounded() async throws {
        let records = InMemoryAuthorityStore()
        let throttle = EnrollmentThrottle(
            configuration: .init(attempts: 1, maximumTracked: 100, maximumRecorded: 20), records: records)
        let now = Date()
        for index in 0..<1000 {
            let address = SourceAddress("10.0.\(index / 250).\(index % 250)")!
            #expect(try await throttle.recordFailure(from: address, at: now) == nil)
            _ = try await throttle.recordFailure(from: address, at: now)
        }
        #expect(records.trackedAllowances <= 100)
        #expect(try await records.throttledAddresses(at: now).count == 20)
    }

    /// IPv6 addresses count by their /64: one machine or network holds a whole /64.
    @Test func sourceAddressesAreIPv4AddressesOrIPv6Networks() throws {
        #expect(SourceAddress("198.51.100.7")?.description == "198.51.100.7")
        #expect(SourceAddress("2001:db8:0:1::5") == SourceAddress("2001:db8:0:1:ffff::9"))
        #expect(SourceAddress("2001:db8:0:1::5")?.description == "2001:db8:0:1::/64")
        #expect(SourceAddress("2001:db8:0:1::/64") == SourceAddress("2001:db8:0:1::5"))
        #expect(SourceAddress("2001:db8:0:2::5") != SourceAddress("2001:db8:0:1::5"))
        #expect(SourceAddress("::ffff:198.51.100.7")?.description == "198.51.100.7")
        #expect(SourceAddress("not an address") == nil)
    }

    @Test func twentyConcurrentRequestsWithOneCodeGetExactlyOneCertificate() async throws {
        let setup = try await setup()
        let code = try await code(setup)
        let keys = [TestKeys.student, TestKeys.other]
        let outcomes = await withTaskGroup(of: Result<String, CampusError>.self) { group in
            for index in 0..<20 {
                group.addTask {
                    do {
                        return .success(try await issue(setup, key: keys[index % 2], code: code).serial)
                    } catch {
                        return .failure((error as? CampusError) ?? CampusError(.internalError, "\(error)"))
                    }
                }
            }
            return await group.reduce(into: [Result<String, CampusError>]()) { $0.append($1) }
        }
        let serials = Set(outcomes.compactMap { try? $0.get() })
        #expect(serials.count == 1)
        // The requests for the key that won got its certificate; the others were told the code is used.
        #expect(outcomes.filter { (try? $0.get()) != nil }.count == 10)
        #expect(
            outcomes.allSatisfy {
                if case .failure(let error) = $0 { return error.code == .codeUsed }
                return true
            })
        #expect(try await setup.registry.certificates(for: sid).count == 1)
    }

    @Test func aNewEnrollmentSupersedesTheOldCertificateAndRevocationsSurviveARestart() async throws {
        let setup = try await setup()
        let first = try await issue(setup, code: try await code(setup))
        let second = try await issue(setup, key: TestKeys.other, code: try await code(setup))
        let reopened = try SQLiteAuthorityStore(path: setup.path)
        guard case .revoked(_, let revocation) = try await reopened.status(ofSerial: first.serial) else {
            Issue.record("the first certificate is not revoked")
            return
        }
        #expect(revocation.reason == .superseded)
        guard case .good = try await reopened.status(ofSerial: second.serial) else {
            Issue.record("the second certificate is not good")
            return
        }
        _ = try await reopened.revoke(serial: second.serial, reason: .keyCompromise, at: Date())
        let again = try SQLiteAuthorityStore(path: setup.path)
        guard case .revoked(_, let later) = try await again.status(ofSerial: second.serial) else {
            Issue.record("the revocation did not survive")
            return
        }
        #expect(later.reason == .keyCompromise)
        #expect(try await again.status(ofSerial: "00") == .unknown)
        await #expect(throws: RegistryError.alreadyRevoked(second.serial)) {
            _ = try await again.revoke(serial: second.serial, reason: .superseded, at: Date())
        }
    }

    @Test func openEnrollmentKeepsTheSeedsWay() async throws {
        let registry = InMemoryAuthorityStore()
        let authority = CertificateAuthority(root: Self.root, registry: registry, enrollment: .open)
        _ = try await authority.issue(csrPEM: try makeCSR())
        _ = try await authority.issue(csrPEM: try makeCSR())
        #expect(try await registry.certificates(for: sid).count == 2)
    }
}
