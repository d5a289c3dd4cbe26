import CampusAdmin
import CampusPKI
import Foundation
import Hummingbird

/// CUHK's pages behind the web interface's login: the roster, enrollment codes, the certificates issued and their
/// revocation, and what `/readyz` checks.
///
/// Every name a person typed (the roster's) reaches the HTML through Mustache's `{{ }}`, which escapes it.
public struct CUHKDashboard: Sendable {
    /// The header's links.
    public static let navigation = [
        ("/", "Roster"), ("/codes", "Codes"), ("/certificates", "Certificates"), ("/throttle", "Throttle"),
    ]

    public let registry: any AuthorityStore
    public let root: RootAuthority?
    /// CUHK's directory, shown in the advice to import a roster.
    public let directory: String
    /// CUHK's enrollment address as students give it to `student --ca`: `HOST:PORT`.
    public let enrollmentAddress: @Sendable () -> String
    /// Blackboard's address as students give it to `student --blackboard` (`cuhk serve --blackboard-address`); when
    /// `nil`, the one recorded in CUHK's store, else Blackboard's default beside a CUHK on loopback.
    public let blackboardAddress: String?

    /// The budget of wrong codes per address, shown on the throttle page.
    public let throttle: EnrollmentThrottle.Configuration

    public init(
        registry: any AuthorityStore, root: RootAuthority?, directory: String,
        enrollmentAddress: @escaping @Sendable () -> String, blackboardAddress: String? = nil,
        throttle: EnrollmentThrottle.Configuration = EnrollmentThrottle.Configuration()
    ) {
        self.registry = registry
        self.root = root
        self.directory = directory
        self.enrollmentAddress = enrollmentAddress
        self.blackboardAddress = blackboardAddress
        self.throttle = throttle
    }

    /// What the slips tell students besides their codes; `nil` fields are not known.
    func instructions() async throws -> (certificateAuthority: String, blackboard: String?, fingerprint: String?) {
        let certificateAuthority = enrollmentAddress()
        var recorded: String?
        if blackboardAddress == nil { recorded = try await registry.setting(EnrollmentInstructions.blackboardSetting) }
        let blackboard =
            blackboardAddress ?? recorded
            ?? EnrollmentInstructions.defaultBlackboard(forCertificateAuthority: certificateAuthority)
        return (certificateAuthority, blackboard, root?.certificate.sha256Fingerprint)
    }

    /// The pages' templates, rendered into the web interface's layout.
    public func pages() throws -> AdminPages {
        try AdminPages(
            site: "CUHK", navigation: Self.navigation,
            templates: [
                RosterPage.name: RosterPage.template, CodeFormPage.name: CodeFormPage.template,
                CodeSlipsPage.name: CodeSlipsPage.template, CertificatesPage.name: CertificatesPage.template,
                RevokePage.name: RevokePage.template, ThrottlePage.name: ThrottlePage.template,
            ])
    }

    /// What keeps CUHK from being ready; see ``AuthorityReadiness``.
    public func readiness() async -> [String] {
        let registry = registry
        return await AuthorityReadiness.problems(root: root, store: registry.location) {
            try await registry.probeWrite()
        }
    }

    /// Adds the pages and actions to the group behind the login.
    public func routes(_ group: RouterGroup<AdminContext>, _ pages: AdminPages) {
        let dashboard = self
        group.get("/") { _, context in try await dashboard.roster(pages, context) }
        group.get("codes") { request, context in try await dashboard.codeForm(request, pages, context) }
        group.post("codes") { _, context in try await dashboard.issueCodes(pages, context) }
        group.get("certificates") { request, context in try await dashboard.certificates(request, pages, context) }
        group.get("certificates/:serial/revoke") { _, context in
            try await dashboard.confirmRevocation(pages, context)
        }
        group.post("certificates/:serial/revoke") { _, context in try await dashboard.revoke(pages, context) }
        group.get("throttle") { _, context in try await dashboard.throttled(pages, context) }
        group.post("throttle/clear") { _, context in try await dashboard.clearThrottle(pages, context) }
    }

    func roster(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        let standings = try await StudentStanding.all(in: registry)
        return pages.page(
            RosterPage.name, title: "Roster",
            values: RosterPage.values(
                standings, openEnrollment: try await registry.lastStartedOpen(), directory: directory,
                throttled: try await registry.throttledAddresses(at: Date()).count),
            session: context.session)
    }

    func throttled(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        pages.page(
            ThrottlePage.name, title: "Throttled addresses",
            values: ThrottlePage.values(
                try await registry.throttledAddresses(at: Date()), configuration: throttle,
                csrf: context.session?.csrfToken ?? ""),
            session: context.session)
    }

    /// Lifts one address's throttle (or all, for `address=all`), as `cuhk throttle clear` does.
    func clearThrottle(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        let text = context.form["address"] ?? ""
        if text == "all" {
            _ = try await registry.clearThrottle(nil)
        } else if let address = SourceAddress(text) {
            _ = try await registry.clearThrottle(address)
        } else {
            return pages.message(
                "Throttled addresses", "“\(ControlCharacters.escaped(text))” is not an IP address.",
                session: context.session, status: .badRequest)
        }
        return .redirect(to: "/throttle", type: .normal)
    }

    func codeForm(_ request: Request, _ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        let standings = try await StudentStanding.all(in: registry)
        let sid = request.uri.queryParameters["sid"].flatMap { StudentID(String($0)) }?.rawValue ?? ""
        return pages.page(
            CodeFormPage.name, title: "Enrollment codes",
            values: CodeFormPage.values(sid: sid, unenrolled: standings.filter { $0.certificate == nil }.count),
            session: context.session)
    }

    func issueCodes(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        let form = context.form
        guard let validity = CodeFormPage.validity(form["validity"]) else {
            return pages.message(
                "Enrollment codes", "Choose how long the codes stay valid.", session: context.session,
                status: .badRequest)
        }
        let recipients: EnrollmentCodes.Recipients
        if form["recipients"] == "unenrolled" {
            recipients = .allUnenrolled
        } else {
            let text = (form["sid"] ?? "").trimmingCharacters(in: .whitespaces)
            guard let studentID = StudentID(text) else {
                return pages.message(
                    "Enrollment codes", "“\(ControlCharacters.escaped(text))”: \(StudentID.requirement)",
                    session: context.session, status: .badRequest)
            }
            recipients = .student(studentID)
        }
        let issued: [IssuedCode]
        do {
            issued = try await EnrollmentCodes.issue(to: recipients, validFor: validity, in: registry)
        } catch let error as EnrollmentCodes.Failure {
            return pages.message("Enrollment codes", "\(error)", session: context.session, status: .notFound)
        }
        let (certificateAuthority, blackboard, fingerprint) = try await instructions()
        return pages.page(
            CodeSlipsPage.name, title: "Enrollment codes",
            values: CodeSlipsPage.values(
                issued, certificateAuthority: certificateAuthority, blackboard: blackboard, rootFingerprint: fingerprint
            ),
            session: context.session)
    }

    func certificates(_ request: Request, _ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        let studentID = request.uri.queryParameters["sid"].flatMap { StudentID(String($0)) }
        return pages.page(
            CertificatesPage.name, title: "Certificates",
            values: CertificatesPage.values(
                try await registry.certificates(for: studentID), services: try await registry.serviceCertificates(),
                names: try await names(), only: studentID),
            session: context.session)
    }

    func confirmRevocation(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        guard let serial = RevokePage.serial(context.parameters.get("serial")),
            case .good(let certificate) = try await registry.status(ofSerial: serial)
        else {
            return try await notRevocable(context.parameters.get("serial"), pages, context)
        }
        return pages.page(
            RevokePage.name, title: "Revoke a certificate",
            values: RevokePage.values(certificate, name: try await names()[certificate.studentID]),
            session: context.session)
    }

    /// Revokes as `cuhk revoke --serial` does, then shows the certificates.
    func revoke(_ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        guard let serial = RevokePage.serial(context.parameters.get("serial")) else {
            return try await notRevocable(context.parameters.get("serial"), pages, context)
        }
        guard let reason = context.form["reason"].flatMap(RevocationReason.init(rawValue:)) else {
            return pages.message(
                "Revoke a certificate", "Choose a reason.", session: context.session, status: .badRequest)
        }
        do {
            _ = try await registry.revoke(serial: serial, reason: reason, at: Date())
        } catch is RegistryError {
            return try await notRevocable(serial, pages, context)
        }
        return .redirect(to: "/certificates", type: .normal)
    }

    /// The answer for a serial that is unknown or revoked already.
    func notRevocable(_ serial: String?, _ pages: AdminPages, _ context: AdminContext) async throws -> Response {
        if let serial = RevokePage.serial(serial),
            case .revoked(let certificate, _) = try await registry.status(
                ofSerial: serial)
        {
            return pages.message(
                "Revoke a certificate", "The certificate \(serial) is \(certificate.status()) already.",
                session: context.session, status: .conflict)
        }
        return pages.message(
            "Revoke a certificate",
            "CUHK issued no certificate with serial \(ControlCharacters.escaped(serial ?? "")).",
            session: context.session, status: .notFound)
    }

    /// The roster's names, by SID.
    func names() async throws -> [StudentID: String] {
        Dictionary(try await registry.rosterEntries().map { ($0.studentID, $0.name) }, uniquingKeysWith: { $1 })
    }
}
