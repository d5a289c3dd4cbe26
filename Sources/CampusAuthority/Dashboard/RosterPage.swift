import CampusPKI
import Foundation

/// `/`: the roster, each student's standing, and the counts.
enum RosterPage {
    static let name = "roster"

    static let template = """
        {{#openEnrollment}}<p class="late">CUHK last started with --open-enrollment: anyone may enroll any SID, and \
        this roster is not enforced.</p>{{/openEnrollment}}
        {{#empty}}
        <p>The roster is empty, so nobody can enroll yet. Import one on CUHK's machine:</p>
        <pre>cuhk roster import --dir {{directory}} roster.csv</pre>
        <p>The file's first line is the header <code>sid,name</code> (an <code>email</code> column may follow), then one \
        student per line. Then <a href="/codes">issue their enrollment codes</a>.</p>
        {{/empty}}
        {{^empty}}
        <p>{{total}} on the roster: <strong>{{enrolled}}</strong> enrolled, <strong>{{notEnrolled}}</strong> not \
        enrolled; {{activeCodes}} with a code waiting to be used. No student can be locked out: wrong codes are \
        throttled per network address, and a right code is always accepted ({{throttled}}).</p>
        <p class="noprint"><a href="/codes">Issue enrollment codes</a> · <a href="/throttle">Throttled addresses</a></p>
        <div class="scroll"><table>
        <thead><tr><th>SID</th><th>Name</th><th>Status</th><th class="noprint"></th></tr></thead>
        <tbody>
        {{#students}}
        <tr><td><code>{{sid}}</code></td><td>{{name}}</td>
        <td><span class="{{style}}">{{status}}</span>{{#hasDetail}}<br><span class="muted">{{detail}}</span>{{/hasDetail}}</td>
        <td class="noprint"><a href="/certificates?sid={{sid}}">certificates</a> · <a href="/codes?sid={{sid}}">new code</a></td></tr>
        {{/students}}
        </tbody>
        </table></div>
        {{/empty}}
        """

    static func values(
        _ standings: [StudentStanding], openEnrollment: Bool, directory: String, throttled: Int = 0,
        now: Date = Date()
    ) -> [String: Any] {
        let students: [[String: Any]] = standings.map { standing in
            let (status, style, detail) = describe(standing, now: now)
            return [
                "sid": standing.entry.studentID.rawValue, "name": standing.entry.name, "status": status,
                "style": style, "detail": detail ?? "", "hasDetail": detail != nil,
            ]
        }
        let enrolled = standings.filter { $0.certificate != nil }.count
        return [
            "openEnrollment": openEnrollment,
            "empty": standings.isEmpty,
            "directory": directory,
            "students": students,
            "total": Count.of(standings.count, "student"),
            "enrolled": enrolled,
            "notEnrolled": standings.count - enrolled,
            "activeCodes": standings.filter { $0.certificate == nil && $0.codeState == .active }.count,
            "throttled": throttled == 0
                ? "no address is throttled now" : "\(Count.of(throttled, "address", plural: "addresses")) throttled now"
                ,
        ]
    }

    /// The status word, its style, and a detail line.
    static func describe(_ standing: StudentStanding, now: Date) -> (String, String, String?) {
        if let certificate = standing.certificate {
            let detail = "serial \(certificate.serial), until \(DashboardFormat.time(certificate.notValidAfter))"
            return ("enrolled", "ontime", detail)
        }
        let outside = standing.certificatesNotFromRoster.map(\.serial)
        let notFromRoster =
            outside.isEmpty
            ? nil
            : "holds \(outside.count == 1 ? "a certificate" : "\(outside.count) certificates") not from the roster "
                + "(open enrollment: \(outside.joined(separator: ", "))), which does not count; revoke it with "
                + "cuhk revoke --open-enrollment"
        let revokedText = standing.hasRevokedCertificate ? "certificate revoked" : nil
        let revoked = [notFromRoster, revokedText].compactMap { $0 }.joined(separator: "; ")
            .nonEmpty
        switch standing.codeState {
        case .active:
            let expires = standing.code.map { DashboardFormat.time($0.expiresAt) } ?? "?"
            return ("code issued, expires \(expires)", "", revoked)
        case .used:
            return ("code used", "muted", revoked)
        case .expired:
            return ("code expired", "late", revoked)
        case .none:
            return ("not enrolled", "muted", revoked)
        }
    }
}

extension String {
    /// The text, or `nil` when it is empty.
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
