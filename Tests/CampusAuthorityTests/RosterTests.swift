import CampusPKI
import Foundation
import Testing
import X509

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
        var registry: SQLiteCertificateRegistry
        var authority: CertificateAuthority
        var path: String
    }

    func setup(lockout: EnrollmentPolicy.Lockout = .init(attempts: 3, duration: 60)) async throws -> Setup {
        let path = SecureFile.join(try temporaryDirectory(), "cuhk.db")
        let registry = try SQLiteCertificateRegistry(path: path)
        _ = try await registry.importRoster([RosterEntry(studentID: sid, name: "Chan Tai Man")])
        let authority = CertificateAuthority(
            root: Self.root, registry: registry, enrollment: .roster(lockout), roster: registry)
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

    func refusal(_ setup: Setup, cn: String = "1155123456", code: String?, now: Date = Date()) async
        -> CampusError?
    {
        do {
            _ = try await setup.authority.issue(csrPEM: try makeCSR(cn: [cn]), code: code, now: now)
            return nil
        } catch {
            return error as? CampusError
        }
    }

    @Test func aRosterStudentEnrollsOnceWithTheirCode() async throws {
        let setup = try await setup()
        let code = try await code(setup)
        let (issued, _) = try await setup.authority.issue(csrPEM: try makeCSR(), code: code.description)
        #expect(issued.studentID == sid)
        #expect(await refusal(setup, code: code.description)?.code == .codeUsed)
        #expect(try await setup.registry.codes().first?.usedAt != nil)
    }

    @Test func anUnknownSIDAndAWrongCodeGetTheSameAnswer() async throws {
        let setup = try await setup()
        _ = try await code(setup)
        let wrong = await refusal(setup, code: EnrollmentCode.random().description)
        let unknown = await refusal(setup, cn: "1155000009", code: EnrollmentCode.random().description)
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
        #expect(await refusal(setup, code: code.description, now: now.addingTimeInterval(61))?.code == .codeExpired)
    }

    @Test func wrongCodesLockTheSIDForAWhileAcrossRestarts() async throws {
        let setup = try await setup(lockout: .init(attempts: 3, duration: 600))
        let code = try await code(setup)
        let now = Date()
        for _ in 1...3 {
            #expect(
                await refusal(setup, code: EnrollmentCode.random().description, now: now)?.code == .enrollmentDenied)
        }
        #expect(await refusal(setup, code: code.description, now: now)?.code == .enrollmentLocked)
        // The lockout is in cuhk.db: a restarted CUHK keeps it.
        let reopened = try SQLiteCertificateRegistry(path: setup.path)
        let restarted = Setup(
            registry: reopened,
            authority: CertificateAuthority(
                root: Self.root, registry: reopened, enrollment: .roster(.init(attempts: 3, duration: 600)),
                roster: reopened),
            path: setup.path)
        #expect(
            await refusal(restarted, code: code.description, now: now.addingTimeInterval(599))?.code
                == .enrollmentLocked)
        // And it ends.
        #expect(await refusal(restarted, code: code.description, now: now.addingTimeInterval(601)) == nil)
    }

    @Test func twentyConcurrentRequestsWithOneCodeGetExactlyOneCertificate() async throws {
        let setup = try await setup()
        let code = try await code(setup)
        let csr = try makeCSR()
        let outcomes = await withTaskGroup(of: CampusError.Code?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await setup.authority.issue(csrPEM: csr, code: code.description)
                        return nil
                    } catch {
                        return (error as? CampusError)?.code ?? .internalError
                    }
                }
            }
            return await group.reduce(into: [CampusError.Code?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == nil }.count == 1)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0 == .codeUsed })
        #expect(try await setup.registry.certificates(for: sid).count == 1)
    }

    @Test func aNewEnrollmentSupersedesTheOldCertificateAndRevocationsSurviveARestart() async throws {
        let setup = try await setup()
        let first = try await setup.authority.issue(csrPEM: try makeCSR(), code: try await code(setup).description).0
        let second = try await setup.authority.issue(csrPEM: try makeCSR(), code: try await code(setup).description).0
        let reopened = try SQLiteCertificateRegistry(path: setup.path)
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
        let again = try SQLiteCertificateRegistry(path: setup.path)
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
        let registry = InMemoryCertificateRegistry()
        let authority = CertificateAuthority(root: Self.root, registry: registry, enrollment: .open)
        _ = try await authority.issue(csrPEM: try makeCSR())
        _ = try await authority.issue(csrPEM: try makeCSR())
        #expect(try await registry.certificates(for: sid).count == 2)
    }
}
