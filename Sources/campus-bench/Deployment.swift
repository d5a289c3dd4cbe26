import CampusCommandLine
import CampusPKI
import Foundation
import Synchronization

/// Where the servers under test keep their records, and how many of each run behind one address.
///
/// By default each runs alone on SQLite files in its directory, as `cuhk` and `blackboard` do. With a PostgreSQL
/// database, `cuhk init --database` makes the root in it first (an instance started with `--database` never creates
/// one), and with several instances HAProxy in TCP mode is the one address in front of them (docs/DEPLOYMENT.md).
struct Deployment: Sendable {
    /// The PostgreSQL database, or `nil` for SQLite.
    var database: DatabaseURL?
    /// `cuhk` and `blackboard` instances; more than one needs `database` and HAProxy.
    var instances = 1

    /// How the table names this deployment.
    var label: String {
        guard database != nil else { return "SQLite, 1 instance" }
        return instances == 1 ? "PostgreSQL, 1 instance" : "PostgreSQL, \(instances) instances behind HAProxy"
    }

    /// The environment of every server: the database (password included) in `CAMPUSPKI_DATABASE`, so that it is on
    /// no command line, and no database at all for SQLite, whatever the benchmark's own environment holds.
    var serverEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment[DatabaseOptions.environmentVariable] = nil
        environment[DatabaseOptions.passwordVariable] = nil
        if let database {
            environment[DatabaseOptions.environmentVariable] = database.redacted
            if let password = database.password { environment[DatabaseOptions.passwordVariable] = password }
        }
        return environment
    }
}

/// The servers of one deployment as the students see them.
struct RunningDeployment {
    /// Where students enroll (one instance, or HAProxy's front).
    var cuhkAddress: ServerAddress
    /// Where students upload.
    var blackboardAddress: ServerAddress
    var cuhk: [ChildServer]
    var blackboards: [ChildServer]
}

/// HAProxy in TCP mode in front of several instances: one address each for enrollment, CUHK's HTTP services (OCSP,
/// timestamps) and Blackboard, as in docs/DEPLOYMENT.md, without health checks (no instance is lost here).
final class LoadBalancer: Sendable {
    let process: ChildProcess
    let cuhk: ServerAddress
    let http: ServerAddress
    let blackboard: ServerAddress

    /// Writes `haproxy.cfg` in `directory`, checks it, starts HAProxy, and waits until its three fronts accept
    /// connections.
    init(
        directory: String, ports: (cuhk: Int, http: Int, blackboard: Int),
        cuhk cuhkBackends: [ServerAddress], http httpBackends: [ServerAddress],
        blackboard blackboardBackends: [ServerAddress]
    ) throws {
        guard let haproxy = ChildCommand.find("haproxy") else {
            throw BenchError("haproxy is not installed (apt-get install haproxy); several instances need it in front")
        }
        func backend(_ name: String, _ servers: [ServerAddress], balance: String) -> String {
            (["backend \(name)", "    balance \(balance)"]
                + servers.enumerated().map {
                    "    server \(name)-\($0.offset + 1) \($0.element.host):\($0.element.port)"
                })
                .joined(separator: "\n")
        }
        let configuration = """
            global
                maxconn 8192

            defaults
                mode tcp
                timeout connect 5s
                timeout client 120s
                timeout server 120s
                retries 3
                option redispatch

            frontend cuhk
                bind 127.0.0.1:\(ports.cuhk)
                default_backend cuhk

            frontend cuhk_http
                bind 127.0.0.1:\(ports.http)
                default_backend cuhk_http

            frontend blackboard
                bind 127.0.0.1:\(ports.blackboard)
                default_backend blackboard

            \(backend("cuhk", cuhkBackends, balance: "leastconn"))

            \(backend("cuhk_http", httpBackends, balance: "roundrobin"))

            \(backend("blackboard", blackboardBackends, balance: "leastconn"))

            """
        let path = SecureFile.join(directory, "haproxy.cfg")
        try SecureFile.write(configuration, to: path, mode: 0o600, replacing: true)
        let check = try ChildCommand.start([haproxy, "-c", "-q", "-f", path], standardOutput: .null)
        guard check.waitBlocking() == .exited(0) else { throw BenchError("haproxy refused \(path)") }
        process = try ChildCommand.start(
            [haproxy, "-db", "-f", path], standardOutput: .file(SecureFile.join(directory, "haproxy.out")),
            standardError: .standardOutput)
        cuhk = ServerAddress(host: "127.0.0.1", port: ports.cuhk)
        http = ServerAddress(host: "127.0.0.1", port: ports.http)
        blackboard = ServerAddress(host: "127.0.0.1", port: ports.blackboard)
        let deadline = Date().addingTimeInterval(30)
        while ![ports.cuhk, ports.http, ports.blackboard].allSatisfy(FreePort.accepts) {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw BenchError("haproxy did not start (see \(SecureFile.join(directory, "haproxy.out")))")
            }
            usleep(20_000)
        }
    }

    /// User plus system CPU time of HAProxy so far, in seconds.
    var cpuSeconds: Double { ChildServer.cpuSeconds(of: process.pid) }

    func stop() {
        guard process.isRunning else { return }
        process.signal(SIGTERM)
        _ = process.waitBlocking()
    }
}

/// Loopback ports for servers whose port must be known before they start (a URL written into a certificate, HAProxy's
/// configuration, cfssl, which cannot bind port 0 and say which port it got).
enum FreePort {
    /// A loopback port free now, below the system's range of ephemeral ports when it can be.
    ///
    /// The servers the benchmark starts bind port 0 and connect out, and the system hands them ports from its
    /// ephemeral range: a port picked there and bound only later (by HAProxy, say) could be given to one of them in
    /// between, and HAProxy would then fail to start. Below that range the system gives out no port by itself; another
    /// program could still take it before it is used, which on a machine that runs only the benchmark does not happen.
    static func make() throws -> Int {
        let low = ephemeralRangeStart()
        if low > firstCandidate {
            for _ in 0..<64 {
                let port = Int.random(in: firstCandidate..<low)
                // A port already handed out is not free, though nothing may have bound it yet.
                guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
                if let claimed = try? claim(port: port) { return claimed }
            }
        }
        return try claim(port: 0)
    }

    /// The ports ``make()`` returned from below the ephemeral range in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Where candidates start: above the ports that well-known services use.
    private static let firstCandidate = 10_000

    /// The first port of the system's ephemeral range (Linux: `/proc/sys/net/ipv4/ip_local_port_range`); 32768 when
    /// it cannot be read.
    private static func ephemeralRangeStart() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
            let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first,
            let low = Int(first)
        else { return 32768 }
        return low
    }

    /// Binds a loopback socket to `port` (0: any), closes it, and returns the port it had.
    private static func claim(port: Int) throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = loopback(port: port)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw BenchError("no free loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts connections on the loopback port.
    static func accepts(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
