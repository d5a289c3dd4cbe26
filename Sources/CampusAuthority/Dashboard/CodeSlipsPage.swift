import CampusPKI
import Foundation

/// The answer to issuing codes: one printable slip per student, with the code and everything else they need to
/// enroll and submit: CUHK's and Blackboard's addresses, the root's fingerprint to pin, and the command, which holds
/// no secret (the Student asks for the code at a hidden prompt).
enum CodeSlipsPage {
    static let name = "slips"

    static let template = """
        {{#hasSlips}}<p class="noprint">{{count}} issued. Print this page and cut along the lines: the codes are shown \
        only now (CUHK keeps only their hashes). <a href="/">Back to the roster</a></p>{{/hasSlips}}
        {{^hasSlips}}<p>Nobody to issue a code to: every student on the roster is enrolled. \
        <a href="/">Back to the roster</a></p>{{/hasSlips}}
        {{^hasBlackboard}}<p class="late noprint">Blackboard's address is not known, so the slips cannot name it: \
        start CUHK with <code>cuhk serve --blackboard-address HOST:PORT</code> (the address students reach Blackboard \
        at), or issue the codes with <code>cuhk codes issue --slips --blackboard-address HOST:PORT</code>.</p>\
        {{/hasBlackboard}}
        {{#slips}}
        <div class="slip">
        <p><strong>{{name}}</strong> · SID <code>{{sid}}</code></p>
        <p>Enrollment code: <code>{{code}}</code><br>valid until {{expires}}, once; keep it to yourself</p>
        <p>CUHK (the certificate authority): <code>{{ca}}</code><br>
        Blackboard (where reports go): <code>{{blackboard}}</code><br>
        CUHK's root certificate, SHA-256 fingerprint:<br><code>{{fingerprint}}</code></p>
        <p>To enroll and hand in your report, run:</p>
        <pre>{{command}}</pre>
        <p>When asked for your enrollment code, type: <code>{{code}}</code></p>
        </div>
        {{/slips}}
        """

    static func values(
        _ issued: [IssuedCode], certificateAuthority: String, blackboard: String?, rootFingerprint: String?
    ) -> [String: Any] {
        let instructions = EnrollmentInstructions(
            certificateAuthority: certificateAuthority, blackboard: blackboard ?? "HOST:PORT",
            rootFingerprint: rootFingerprint ?? "?")
        return [
            "hasSlips": !issued.isEmpty,
            "hasBlackboard": blackboard != nil,
            "count": issued.count == 1 ? "One code" : "\(issued.count) codes",
            "slips": issued.map { issued -> [String: Any] in
                [
                    "sid": issued.entry.studentID.rawValue, "name": issued.entry.name, "code": "\(issued.code)",
                    "expires": DashboardFormat.time(issued.expiresAt), "ca": certificateAuthority,
                    "blackboard": instructions.blackboard, "fingerprint": instructions.rootFingerprint,
                    "command": instructions.command(for: issued.entry.studentID),
                ]
            },
        ]
    }
}
