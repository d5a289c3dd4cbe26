import CampusPKI
import Foundation

/// The name by which students and Blackboard reach CUHK, for the OCSP responder's URL written in every certificate
/// and for the code slips.
///
/// A certificate outlives the process that issued it, so the URL in it must be one that clients can reach: never a
/// wildcard such as `0.0.0.0` or `::`, which means "every address of this machine" to a server and "nowhere" to a
/// client. With `cuhk serve --public-url` the operator says it; otherwise it is the listening address, or, when that
/// is a wildcard, this machine's host name if it resolves.
public struct PublicAddress: Sendable, Hashable {
    /// The host clients use: a DNS name or an IP address, without brackets.
    public var host: String
    /// `--public-url`, when given: the base URL of CUHK's HTTP port (the OCSP responder).
    public var url: String?
    /// Whether ``host`` is this machine's host name, chosen because CUHK listens on a wildcard address.
    public var isDerivedFromHostName: Bool

    /// Why no public address could be found, or why the one given cannot be used.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Whether `host` is an address no client can connect to (`0.0.0.0`, `::` and their spellings, or empty).
    public static func isUnroutable(_ host: String) -> Bool {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "0" { return true }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 { return ipv4.s_addr == 0 }
        var ipv6 = in6_addr()
        if inet_pton(AF_INET6, host, &ipv6) == 1 {
            return withUnsafeBytes(of: &ipv6) { $0.allSatisfy { $0 == 0 } }
        }
        return false
    }

    /// Whether the system resolver finds an address for `name`.
    public static func resolves(_ name: String) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0 else { return false }
        freeaddrinfo(result)
        return true
    }

    /// The host of an `http://` URL, without brackets; `nil` when it is not one.
    public static func host(ofURL text: String) -> String? {
        guard let url = URL(string: text), url.scheme?.lowercased() == "http", var host = url.host, !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host
    }

    /// Checks a URL given to be written in certificates: `http://` with a host clients can reach.
    ///
    /// - Parameter option: The flag it came from, for the message.
    /// - Throws: ``Failure`` saying what is wrong.
    public static func check(url text: String, option: String) throws(Failure) {
        guard let host = host(ofURL: text) else {
            throw Failure(
                description: "\(option) \"\(ControlCharacters.escaped(text))\" is not an http:// URL with a host "
                    + "(OCSP answers are signed, so the responder needs no TLS): for example "
                    + "http://cuhk.example.edu:9336/"
            )
        }
        guard !isUnroutable(host) else {
            throw Failure(
                description: "\(option) \(text) names \(host), which no client can connect to; give the name or "
                    + "address by which students and Blackboard reach this machine")
        }
    }

    /// Works out the public address.
    ///
    /// - Parameters:
    ///   - listeningHost: `--host`.
    ///   - url: `--public-url`, checked with ``check(url:option:)``.
    ///   - hostName: This machine's host name.
    ///   - resolves: Whether a name resolves (tests replace the system resolver).
    /// - Throws: ``Failure`` when `listeningHost` is a wildcard, no URL is given and `hostName` does not resolve.
    public static func choose(
        listeningHost: String, url: String?, hostName: String = ProcessInfo.processInfo.hostName,
        resolves: (String) -> Bool = PublicAddress.resolves
    ) throws(Failure) -> PublicAddress {
        if let url {
            try check(url: url, option: "--public-url")
            return PublicAddress(host: host(ofURL: url)!, url: url, isDerivedFromHostName: false)
        }
        guard isUnroutable(listeningHost) else {
            return PublicAddress(host: listeningHost, url: nil, isDerivedFromHostName: false)
        }
        guard !hostName.isEmpty, !isUnroutable(hostName), resolves(hostName) else {
            throw Failure(
                description: "--host \(listeningHost) listens on every address of this machine, but certificates "
                    + "need the address clients reach CUHK by, and this machine's host name "
                    + "\"\(ControlCharacters.escaped(hostName))\" does not resolve; give --public-url "
                    + "http://NAME:PORT/ (the name or address of this machine and the OCSP port)")
        }
        return PublicAddress(host: hostName, url: nil, isDerivedFromHostName: true)
    }

    /// The responder's URL for certificates: ``url`` when given, else `http://HOST:PORT/` with the responder's port.
    public func responderURL(port: Int) -> String {
        url ?? "http://\(Self.bracketed(host)):\(port)/"
    }

    /// `HOST:PORT` as `student --ca` and `--blackboard` take it.
    public func hostAndPort(_ port: Int) -> String {
        "\(Self.bracketed(host)):\(port)"
    }

    static func bracketed(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }
}
