import Foundation
import Hummingbird
import Mustache

/// Server-rendered HTML from Mustache templates: a page template renders into the shared layout.
///
/// Mustache escapes every `{{value}}` for HTML, so anything a student sent shows as text; only the layout's
/// `{{{content}}}`, which is a page this type rendered, is inserted as is. No script, no asset from elsewhere: the
/// style sheet is in the layout, and pages that change refresh themselves with a `<meta http-equiv="refresh">`.
public struct AdminPages: Sendable {
    /// The site's name in titles and the header: `Blackboard`, `CUHK`.
    public let site: String
    /// Links in the header: (path, label).
    public let navigation: [(String, String)]
    private let library: MustacheLibrary

    /// - Parameter templates: Page templates by name.
    public init(site: String, navigation: [(String, String)], templates: [String: String]) throws {
        self.site = site
        self.navigation = navigation
        var all = templates
        all["layout"] = Self.layout
        all["login"] = Self.login
        all["message"] = Self.message
        library = MustacheLibrary(templates: try all.mapValues { try MustacheTemplate(string: $0) })
    }

    /// A whole page: `template` rendered with `values`, inside the layout.
    ///
    /// - Parameters:
    ///   - refresh: Seconds after which the browser reloads the page, for pages that show new submissions.
    ///   - session: The logged-in session, whose CSRF token every form on the page carries as `{{csrf}}`.
    public func page(
        _ template: String, title: String, values: [String: Any] = [:], session: AdminSession?,
        refresh: Int? = nil, status: HTTPResponse.Status = .ok
    ) -> Response {
        var values = values
        values["csrf"] = session?.csrfToken ?? ""
        let content = library.render(values, withTemplate: template) ?? ""
        let layout: [String: Any] = [
            "site": site,
            "title": title,
            "content": content,
            "refresh": refresh.map(String.init) ?? "",
            "loggedIn": session != nil,
            "csrf": session?.csrfToken ?? "",
            "navigation": navigation.map { ["path": $0.0, "label": $0.1] },
        ]
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .init("Content-Security-Policy")!: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                .init("X-Frame-Options")!: "DENY", .init("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A short page with one sentence, such as an error.
    public func message(_ title: String, _ text: String, session: AdminSession?, status: HTTPResponse.Status)
        -> Response
    {
        page("message", title: title, values: ["text": text], session: session, status: status)
    }

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}
        <title>{{title}} · {{site}}</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
        header { background: #243b55; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
        header a { color: #fff; }
        header strong { font-size: 1.1rem; }
        main { padding: 1rem; max-width: 70rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
        .scroll { overflow-x: auto; }
        .late { color: #a40000; font-weight: bold; }
        .ontime { color: #1f6f1f; }
        .muted { color: #666; }
        code, pre { font-family: ui-monospace, monospace; font-size: .9rem; word-break: break-all; white-space: pre-wrap; }
        form.inline { display: inline; }
        fieldset { border: 1px solid #ccc; margin: 1rem 0; }
        input, select, button { font-size: 1rem; margin: .2rem 0; }
        .slip { border: 1px dashed #333; padding: .8rem; margin: .6rem 0; page-break-inside: avoid; background: #fff; }
        @media print { header, .noprint { display: none; } body { background: #fff; } }
        </style>
        </head>
        <body>
        <header><strong>{{site}}</strong>{{#loggedIn}}{{#navigation}} <a href="{{path}}">{{label}}</a>{{/navigation}}
        <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>Log out</button></form>{{/loggedIn}}</header>
        <main>
        <h1>{{title}}</h1>
        {{{content}}}
        </main>
        </body>
        </html>

        """

    static let login = """
        {{#error}}<p class="late">{{error}}</p>{{/error}}
        <p>Open the login URL the server printed at start, or paste its token here. The token is in the file
        <code>{{tokenFile}}</code>.</p>
        <form method="post" action="/login">
        <input type="hidden" name="next" value="{{next}}">
        <input type="password" name="token" autocomplete="off" size="40" aria-label="token">
        <button>Log in</button>
        </form>
        """

    static let message = """
        <p>{{text}}</p>
        <p><a href="/">Back</a></p>
        """
}
