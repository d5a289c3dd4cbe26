import CampusPKI
import Foundation

/// `/certificates/SERIAL/revoke`: the certificate, and a form that revokes it with a reason.
enum RevokePage {
    static let name = "revoke"

    static let template = """
        <div class="scroll"><table>
        <tr><th>Serial</th><td><code>{{serial}}</code></td></tr>
        <tr><th>SID</th><td>{{sid}}</td></tr>
        <tr><th>Name</th><td>{{name}}</td></tr>
        <tr><th>Issued</th><td>{{issuedAt}}</td></tr>
        <tr><th>Not after</th><td>{{notAfter}}</td></tr>
        <tr><th>Status</th><td>{{status}}</td></tr>
        </table></div>
        <p>Revocation cannot be undone. Blackboard may accept the certificate until its cached OCSP answer runs out; \
        the student can enroll again with a new code.</p>
        <form method="post" action="/certificates/{{serial}}/revoke">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Reason <select name="reason">{{#reasons}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/reasons}}</select></label>
        <button>Revoke</button> <a href="/certificates">Cancel</a>
        </form>
        """

    /// The reason `cuhk revoke` gives unless told otherwise.
    static let defaultReason = RevocationReason.cessationOfOperation

    static func values(_ certificate: IssuedCertificate, name: String?, now: Date = Date()) -> [String: Any] {
        [
            "serial": certificate.serial, "sid": certificate.studentID.rawValue, "name": name ?? "",
            "issuedAt": DashboardFormat.time(certificate.issuedAt),
            "notAfter": DashboardFormat.time(certificate.notValidAfter), "status": certificate.status(at: now),
            "reasons": RevocationReason.allCases.map { reason -> [String: Any] in
                ["value": reason.rawValue, "label": label(reason), "selected": reason == defaultReason]
            },
        ]
    }

    static func label(_ reason: RevocationReason) -> String {
        switch reason {
        case .keyCompromise: "keyCompromise: the key may be known to others (a lost laptop)"
        case .affiliationChanged: "affiliationChanged: the student left the course"
        case .superseded: "superseded: a newer certificate replaces it"
        case .cessationOfOperation: "cessationOfOperation: no longer needed"
        case .unspecified: "unspecified"
        }
    }

    /// A serial as a path may carry it: lower-case hex, at most 40 digits.
    static func serial(_ text: String?) -> String? {
        guard let text, !text.isEmpty, text.count <= 40, text.allSatisfy(\.isHexDigit) else { return nil }
        return text.lowercased()
    }
}
