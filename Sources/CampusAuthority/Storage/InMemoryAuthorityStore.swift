import CampusAdmin
import CampusPKI
import Foundation
import Synchronization
import X509

/// CUHK's store in memory: forgets everything on exit. For tests; it passes the same conformance suite as the
/// SQLite and PostgreSQL stores, and each operation holds one lock, so its atomic steps are atomic here too.
public final class InMemoryAuthorityStore: AuthorityStore {
    struct State {
        var certificates: [IssuedCertificate] = []
        var roster: [StudentID: RosterEntry] = [:]
        var codes: [StudentID: CodeRecord] = [:]
        var throttled: [SourceAddress: ThrottledAddress] = [:]
        var allowances: [SourceAddress: EnrollmentThrottle.Allowance] = [:]
        var settings: [String: String] = [:]
        var services: [(record: ServiceCertificateRecord, pem: String)] = []
        var timestamps: [TimestampRecord] = []
    }

    private let state = Mutex(State())
    private let adminSessions = InMemoryAdminSessionStore()

    public init() {}

    public var location: String { "memory" }

    /// How many addresses' counts of wrong codes are kept now.
    public var trackedAllowances: Int { state.withLock { $0.allowances.count } }

    // MARK: Certificates

    public func record(_ certificate: IssuedCertificate) async throws {
        try state.withLock { state in
            guard !state.certificates.contains(where: { $0.serial == certificate.serial }) else {
                throw RegistryError.duplicateSerial(certificate.serial)
            }
            state.certificates.append(Self.standing(certificate, in: state.certificates))
        }
    }

    /// The certificate with ``IssuedCertificate/isRosterAuthorized`` set from its authorization.
    static func standing(_ certificate: IssuedCertificate, in entries: [IssuedCertificate]) -> IssuedCertificate {
        var certificate = certificate
        certificate.isRosterAuthorized =
            switch certificate.authorization {
            case .enrollmentCode: true
            case .renewal(let serial): entries.first { $0.serial == serial }?.isRosterAuthorized ?? false
            case .openEnrollment, .unknown: false
            }
        return certificate
    }

    public func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] {
        state.withLock { state in
            state.certificates.filter { studentID == nil || $0.studentID == studentID }
                .sorted { ($0.issuedAt, $0.serial) < ($1.issuedAt, $1.serial) }
        }
    }

    public func status(ofSerial serial: String) async throws -> CertificateStatus {
        guard let found = state.withLock({ $0.certificates.first { $0.serial == serial.lowercased() } }) else {
            return .unknown
        }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate {
        try state.withLock { state in
            guard let index = state.certificates.firstIndex(where: { $0.serial == serial.lowercased() }) else {
                throw RegistryError.unknownSerial(serial)
            }
            guard state.certificates[index].revocation == nil else { throw RegistryError.alreadyRevoked(serial) }
            state.certificates[index].revocation = Revocation(time: time, reason: reason)
            return state.certificates[index]
        }
    }

    public func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws {
        try state.withLock { state in
            guard let index = state.certificates.firstIndex(where: { $0.serial == serial.lowercased() }),
                state.certificates[index].revocation == nil
            else { throw RegistryError.alreadyRevoked(serial) }
            guard !state.certificates.contains(where: { $0.serial == certificate.serial }) else {
                throw RegistryError.duplicateSerial(certificate.serial)
            }
            state.certificates[index].revocation = Revocation(time: time, reason: .superseded)
            state.certificates.append(Self.standing(certificate, in: state.certificates))
        }
    }

    public func renewal(of serial: String) async throws -> IssuedCertificate? {
        let renewal = CertificateAuthorization.renewal(of: serial.lowercased())
        return state.withLock { state in
            state.certificates.filter { $0.authorization == renewal }.max { $0.issuedAt < $1.issuedAt }
        }
    }

    public func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
        -> [IssuedCertificate]
    {
        state.withLock { state in
            state.revoke(where: { $0.studentID == studentID }, reason: reason, at: time)
        }
    }

    public func revokedSerials() async throws -> [RevokedSerial] {
        state.withLock { state in
            state.certificates.compactMap { certificate in
                certificate.revocation.map { RevokedSerial(serial: certificate.serial, revocation: $0) }
            }.sorted { ($0.revocation.time, $0.serial) < ($1.revocation.time, $1.serial) }
        }
    }

    public func certificatesNotFromRoster(onRosterAt time: Date) async throws -> [IssuedCertificate] {
        state.withLock { state in
            state.certificates.filter {
                state.roster[$0.studentID] != nil && !$0.isRosterAuthorized && $0.revocation == nil
                    && $0.notValidAfter > time
            }.sorted {
                ($0.studentID.rawValue, $0.issuedAt, $0.serial) < ($1.studentID.rawValue, $1.issuedAt, $1.serial)
            }
        }
    }

    public func revokeAllNotFromRoster(reason: RevocationReason, at time: Date) async throws -> [IssuedCertificate] {
        state.withLock { state in
            state.revoke(where: { !$0.isRosterAuthorized }, reason: reason, at: time).sorted {
                ($0.studentID.rawValue, $0.issuedAt, $0.serial) < ($1.studentID.rawValue, $1.issuedAt, $1.serial)
            }
        }
    }

    // MARK: Roster and codes

    public func importRoster(_ entries: [RosterEntry]) async throws -> (added: Int, updated: Int) {
        state.withLock { state in
            var added = 0
            for entry in entries {
                if state.roster.updateValue(entry, forKey: entry.studentID) == nil { added += 1 }
            }
            return (added, entries.count - added)
        }
    }

    public func rosterEntries() async throws -> [RosterEntry] {
        state.withLock { $0.roster.values.sorted { $0.studentID.rawValue < $1.studentID.rawValue } }
    }

    public func removeFromRoster(_ studentID: StudentID) async throws -> Bool {
        state.withLock { state in
            state.codes[studentID] = nil
            return state.roster.removeValue(forKey: studentID) != nil
        }
    }

    public func storeCode(_ code: EnrollmentCode, for studentID: StudentID, issuedAt: Date, expiresAt: Date)
        async throws -> Bool
    {
        state.withLock { state in
            guard state.roster[studentID] != nil else { return false }
            state.codes[studentID] = CodeRecord(
                studentID: studentID.rawValue, issuedAt: issuedAt, expiresAt: expiresAt, hash: code.hash)
            return true
        }
    }

    public func codes() async throws -> [CodeRecord] {
        state.withLock { $0.codes.values.sorted { $0.studentID < $1.studentID } }
    }

    public func code(for studentID: StudentID) async throws -> CodeRecord? {
        state.withLock { state in state.roster[studentID] == nil ? nil : state.codes[studentID] }
    }

    public func record(_ certificate: IssuedCertificate, consumingCode codeHash: [UInt8], at time: Date) async throws {
        try state.withLock { state in
            guard var code = state.codes[certificate.studentID], code.hash == codeHash, code.usedAt == nil,
                code.expiresAt > time
            else { throw RegistryError.codeAlreadyUsed }
            guard !state.certificates.contains(where: { $0.serial == certificate.serial }) else {
                throw RegistryError.duplicateSerial(certificate.serial)
            }
            code.usedAt = time
            code.certificateSerial = certificate.serial
            state.codes[certificate.studentID] = code
            _ = state.revoke(where: { $0.studentID == certificate.studentID }, reason: .superseded, at: time)
            state.certificates.append(Self.standing(certificate, in: state.certificates))
        }
    }

    // MARK: Throttle

    public func recordFailure(from address: SourceAddress, at time: Date, budget: EnrollmentThrottle.Configuration)
        async throws -> Date?
    {
        state.withLock { state in
            if let entry = state.throttled[address], entry.until > time { return entry.until }
            switch EnrollmentThrottle.spend(state.allowances[address], of: address, at: time, configuration: budget) {
            case .allowed(let allowance):
                state.allowances[address] = allowance
                let fullAgain = EnrollmentThrottle.fullAgainBefore(time, configuration: budget)
                state.allowances = state.allowances.filter { $0.value.updated >= fullAgain }
                if state.allowances.count > budget.maximumTracked {
                    let kept = state.allowances.sorted { $0.value.updated > $1.value.updated }
                        .prefix(max(budget.maximumTracked, 1))
                    state.allowances = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
                }
                return nil
            case .throttled(let entry):
                state.allowances[address] = nil
                state.putOnList(entry, at: time, keepingAtMost: budget.maximumRecorded)
                return entry.until
            }
        }
    }

    public func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date? {
        state.withLock { $0.throttled[address].flatMap { $0.until > time ? $0.until : nil } }
    }

    public func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws {
        state.withLock { $0.putOnList(entry, at: time, keepingAtMost: keepingAtMost) }
    }

    public func throttledAddresses(at time: Date) async throws -> [ThrottledAddress] {
        state.withLock { state in
            state.throttled.values.filter { $0.until > time }.sorted {
                ($0.since, $0.address.description) < ($1.since, $1.address.description)
            }
        }
    }

    public func clearThrottle(_ address: SourceAddress?) async throws -> Int {
        state.withLock { state in
            guard let address else {
                defer {
                    state.throttled = [:]
                    state.allowances = [:]
                }
                return state.throttled.count
            }
            state.allowances[address] = nil
            return state.throttled.removeValue(forKey: address) == nil ? 0 : 1
        }
    }

    // MARK: Services, timestamps, settings

    public func recordServiceCertificate(
        name: String, serial: String, notValidBefore: Date, notValidAfter: Date, pem: String, issuedAt: Date
    ) async throws {
        try state.withLock { state in
            guard !state.services.contains(where: { $0.record.serial == serial }) else {
                throw RegistryError.duplicateSerial(serial)
            }
            state.services.append(
                (
                    ServiceCertificateRecord(
                        name: name, serial: serial, notValidBefore: notValidBefore, notValidAfter: notValidAfter,
                        issuedAt: issuedAt), pem
                ))
        }
    }

    public func serviceCertificates() async throws -> [ServiceCertificateRecord] {
        state.withLock { $0.services.map(\.record).sorted { ($0.issuedAt, $0.serial) < ($1.issuedAt, $1.serial) } }
    }

    public func serviceCertificateStatus(ofSerial serial: String) async throws -> ServiceCertificateStatus {
        guard let found = state.withLock({ $0.services.first { $0.record.serial == serial.lowercased() }?.record })
        else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revokeServiceCertificates(serial: String?, name: String?, reason: RevocationReason, at time: Date)
        async throws -> [ServiceCertificateRecord]
    {
        try state.withLock { state in
            let indices: [Int]
            if let serial {
                guard let index = state.services.firstIndex(where: { $0.record.serial == serial.lowercased() }) else {
                    throw RegistryError.unknownSerial(serial)
                }
                guard state.services[index].record.revocation == nil else { throw RegistryError.alreadyRevoked(serial) }
                indices = [index]
            } else {
                indices = state.services.indices.filter {
                    state.services[$0].record.name == (name ?? "") && state.services[$0].record.revocation == nil
                }.sorted { state.services[$0].record.issuedAt < state.services[$1].record.issuedAt }
            }
            return indices.map { index in
                state.services[index].record.revocation = Revocation(time: time, reason: reason)
                return state.services[index].record
            }
        }
    }

    public func recordTimestamp(_ record: TimestampRecord) async throws {
        try state.withLock { state in
            guard !state.timestamps.contains(where: { $0.serial == record.serial }) else {
                throw RegistryError.duplicateSerial(record.serial)
            }
            state.timestamps.append(record)
        }
    }

    public func timestampRecords(limit: Int) async throws -> [TimestampRecord] {
        state.withLock { state in
            Array(
                state.timestamps.sorted { ($0.generationTime, $0.serial) < ($1.generationTime, $1.serial) }.prefix(
                    max(limit, 0)))
        }
    }

    public func timestampCount() async throws -> Int {
        state.withLock { $0.timestamps.count }
    }

    public func recordTimestampAuthorityCertificate(_ certificate: Certificate, issuedAt: Date) async throws {
        try await recordServiceCertificate(
            name: TimestampAuthorityCertificate.serviceName, serial: certificate.serialNumber.hex,
            notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
            pem: try certificate.serializeAsPEM().text, issuedAt: issuedAt)
    }

    public func timestampAuthorityCertificates() async throws -> [Certificate] {
        state.withLock { state in
            state.services.filter { $0.record.name == TimestampAuthorityCertificate.serviceName }
                .sorted { ($0.record.issuedAt, $0.record.serial) > ($1.record.issuedAt, $1.record.serial) }
                .map(\.pem)
        }.compactMap { try? Certificate(pemEncoded: $0) }
    }

    public func setting(_ name: String) async throws -> String? {
        state.withLock { $0.settings[name] }
    }

    public func recordSetting(_ name: String, _ value: String) async throws {
        state.withLock { $0.settings[name] = value }
    }

    public func probeWrite(at time: Date) async throws {
        state.withLock { $0.settings["readiness-probe"] = "\(time.timeIntervalSince1970)" }
    }

    // MARK: The web interface's sessions

    public func recordAdminSession(_ session: AdminSessionRecord) async throws {
        try await adminSessions.recordAdminSession(session)
    }

    public func adminSession(key: String, at time: Date) async throws -> AdminSessionRecord? {
        try await adminSessions.adminSession(key: key, at: time)
    }

    public func removeAdminSession(key: String) async throws {
        try await adminSessions.removeAdminSession(key: key)
    }

    public func removeAllAdminSessions() async throws -> Int {
        try await adminSessions.removeAllAdminSessions()
    }
}

extension InMemoryAuthorityStore.State {
    /// Revokes every certificate not revoked yet that `matches`, and returns them as revoked.
    mutating func revoke(where matches: (IssuedCertificate) -> Bool, reason: RevocationReason, at time: Date)
        -> [IssuedCertificate]
    {
        var revoked: [IssuedCertificate] = []
        for index in certificates.indices where certificates[index].revocation == nil && matches(certificates[index]) {
            certificates[index].revocation = Revocation(time: time, reason: reason)
            revoked.append(certificates[index])
        }
        return revoked.sorted { ($0.issuedAt, $0.serial) < ($1.issuedAt, $1.serial) }
    }

    mutating func putOnList(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) {
        throttled = throttled.filter { $0.value.until > time }
        throttled[entry.address] = entry
        while throttled.count > max(keepingAtMost, 1),
            let oldest = throttled.values.min(by: {
                ($0.since, $0.address.description) < ($1.since, $1.address.description)
            })
        {
            throttled[oldest.address] = nil
        }
    }
}
