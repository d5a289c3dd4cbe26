import CampusPKI
import Foundation

/// `/certificates`: what CUHK issued, newest first, with a link to revoke each certificate that is not revoked;
/// then the services' certificates.
enum CertificatesPage {
    static let name = "certificates"

    static let template = """
        {{#filtered}}<p>Only SID <code>{{sid}}</code>{{#hasName}} ({{name}}){{/hasName}}. \
        <a href="/certificates">All certificates</a></p>{{/filtered}}
        <p>{{summary}}</p>
        {{#hasCertificates}}
        <div class="scroll"><table>
        <thead><tr><th>Serial</th><th>SID</th><th>Name</th><th>Status</th><th>Not after</th><th>Authorized by</th><th class="noprint"></th></tr></thead>
        <tbody>
        {{#certificates}}
        <tr><td><code>{{serial}}</code></td><td><a href="/certificates?sid={{sid}}">{{sid}}</a></td><td>{{name}}</td>
        <td class="{{style}}">{{status}}</td><td>{{notAfter}}</td><td>{{authorization}}</td>
        <td class="noprint">{{#revocable}}<a href="/certificates/{{serial}}/revoke">revoke…</a>{{/revocable}}</td></tr>
        {{/certificates}}
        </tbody>
        </table></div>
        {{/hasCertificates}}
        {{#hasServices}}
        <h2>Services</h2>
        <div class="scroll"><table>
        <thead><tr><th>Serial</th><th>Name</th><th>Status</th><th>Not after</th></tr></thead>
        <tbody>
        {{#services}}
        <tr><td><code>{{serial}}</code></td><td>{{name}}</td><td class="{{style}}">{{status}}</td><td>{{notAfter}}</td></tr>
        {{/services}}
        </tbody>
        </table></div>
        {{/hasServices}}
        """

    static func values(
        _ certificates: [IssuedCertificate], services: [ServiceCertificateRecord], names: [StudentID: String],
        only studentID: StudentID?, now: Date = Date()
    ) -> [String: Any] {
        let newestFirst = certificates.sorted {
            ($0.issuedAt, $0.serial) > ($1.issuedAt, $1.serial)
        }
        let rows: [[String: Any]] = newestFirst.map { certificate in
            let status = certificate.status(at: now)
            return [
                "serial": certificate.serial, "sid": certificate.studentID.rawValue,
                "name": names[certificate.studentID] ?? "", "status": status, "style": style(status),
                "notAfter": DashboardFormat.time(certificate.notValidAfter), "revocable": certificate.revocation == nil,
                "authorization": certificate.authorization.description
                    + (certificate.isRosterAuthorized || certificate.authorization == .enrollmentCode
                        ? "" : " (not from the roster)")
                    ,
            ]
        }
        let serviceRows: [[String: Any]] = services.reversed().map { service in
            let status = service.status(at: now)
            return [
                "serial": service.serial, "name": service.name, "status": status, "style": style(status),
                "notAfter": DashboardFormat.time(service.notValidAfter),
            ]
        }
        let valid = certificates.filter { $0.status(at: now) == "valid" }.count
        return [
            "filtered": studentID != nil,
            "sid": studentID?.rawValue ?? "",
            "name": studentID.flatMap { names[$0] } ?? "",
            "hasName": studentID.flatMap { names[$0] } != nil,
            "summary": certificates.isEmpty
                ? "No certificate issued yet." : "\(Count.of(certificates.count, "certificate")), \(valid) valid.",
            "hasCertificates": !certificates.isEmpty,
            "certificates": rows,
            "hasServices": !serviceRows.isEmpty && studentID == nil,
            "services": serviceRows,
        ]
    }

    static func style(_ status: String) -> String {
        status == "valid" ? "ontime" : status.hasPrefix("revoked") ? "late" : "muted"
    }
}
