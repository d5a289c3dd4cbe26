/// A `HOST:PORT` pair, as given to `--ca` and `--blackboard`.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; the port must be 1–65535. IPv6 hosts go in brackets: `[::1]:3141`.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// CUHK's address in the seed.
    public static let defaultCertificateAuthority = ServerAddress(host: "127.0.0.1", port: 9335)
    /// Blackboard's address in the seed.
    public static let defaultBlackboard = ServerAddress(host: "127.0.0.1", port: 3141)
}
