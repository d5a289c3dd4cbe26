import Foundation

/// The answer to issuing codes: one printable slip per student, with the code and how to enroll with it.
enum CodeSlipsPage {
    static let name = "slips"

    static let template = """
        {{#hasSlips}}<p class="noprint">{{count}} issued. Print this page and cut along the lines: the codes are shown \
        only now (CUHK keeps only their hashes). <a href="/">Back to the roster</a></p>{{/hasSlips}}
        {{^hasSlips}}<p>Nobody to issue a code to: every student on the roster is enrolled. \
        <a href="/">Back to the roster</a></p>{{/hasSlips}}
        {{#slips}}
        <div class="slip">
        <p><strong>{{name}}</strong> · SID <code>{{sid}}</code></p>
        <p>Enrollment code: <code>{{code}}</code><br>valid until {{expires}}, once</p>
        <p>To enroll, run the command below and type the code when it asks (it is not shown as you type):</p>
        <pre>student --sid {{sid}} --ca {{ca}}</pre>
        </div>
        {{/slips}}
        """

    static func values(_ issued: [IssuedCode], certificateAuthority: String) -> [String: Any] {
        [
            "hasSlips": !issued.isEmpty,
            "count": issued.count == 1 ? "One code" : "\(issued.count) codes",
            "slips": issued.map { issued -> [String: Any] in
                [
                    "sid": issued.entry.studentID.rawValue, "name": issued.entry.name, "code": "\(issued.code)",
                    "expires": DashboardFormat.time(issued.expiresAt), "ca": certificateAuthority,
                ]
            },
        ]
    }
}
