import Foundation

/// Where a login sends the browser: the page in `next`, when a browser would read it as a path on this site, or `/`.
///
/// The check reads `next` as a browser's URL parser (the WHATWG URL standard) reads a reference against an `http`
/// page, not as the text it looks like: the parser drops leading and trailing C0 controls and spaces, removes every
/// tab, CR and LF, and takes `\` for `/`. So `/\t/evil.example` and `/\evil` are `//evil…`, another host, although
/// neither begins with `//` as written.
public enum LoginRedirect {
    /// The page a login opens when `next` is missing or not a path on this site.
    public static let home = "/"

    /// Characters a path, query and fragment may carry as they are (RFC 3986's unreserved and sub-delimiters, `:`,
    /// `@`, `/`, `?`, `#`, and `%` of an escape already made); anything else is percent-encoded.
    private static let allowed = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?#%")

    /// The path to redirect to after a login.
    ///
    /// - Parameter next: The decoded `next` parameter of the login (query or form).
    /// - Returns: `next` as the browser would read it, percent-encoded where a header needs it, when that is a path
    ///   on this site (one `/`, then not `/`); otherwise ``home``.
    public static func target(_ next: String?) -> String {
        guard let next else { return home }
        var scalars = Array(next.unicodeScalars)
        // Leading and trailing C0 control or space.
        while let first = scalars.first, first.value <= 0x20 { scalars.removeFirst() }
        while let last = scalars.last, last.value <= 0x20 { scalars.removeLast() }
        // Tab and newlines anywhere; backslash is a slash in an http URL.
        scalars = scalars.filter { !["\t", "\n", "\r"].contains($0) }.map { $0 == "\\" ? "/" : $0 }
        let path = String(String.UnicodeScalarView(scalars))
        guard path.hasPrefix("/"), !path.hasPrefix("//"),
            let encoded = path.addingPercentEncoding(withAllowedCharacters: allowed)
        else { return home }
        return encoded
    }
}
