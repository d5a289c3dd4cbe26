import CampusPKI
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The PostgreSQL database the tests use: `CAMPUSPKI_TEST_DATABASE` (scripts/throwaway-postgres.sh starts one and
/// prints it). Each test makes schemas of its own in it, so tests run in parallel and leave nothing behind.
///
/// Without a reachable database the PostgreSQL cases are left out, and `PostgreSQLAvailability` says so as a skipped
/// test; with `CAMPUSPKI_REQUIRE_POSTGRES` set (as CI sets it) they run anyway, and fail.
enum TestDatabase {
    static let environment = ProcessInfo.processInfo.environment

    /// The database, when one is named.
    static let url: DatabaseURL? = environment["CAMPUSPKI_TEST_DATABASE"].flatMap {
        $0.isEmpty ? nil : try? DatabaseURL(parsing: $0)
    }

    /// Whether the PostgreSQL cases must run (CI).
    static let required = !(environment["CAMPUSPKI_REQUIRE_POSTGRES"] ?? "").isEmpty

    /// Whether the named database's port accepts a connection now.
    static let reachable: Bool = url.map { canConnect(host: $0.host, port: $0.port) } ?? false

    /// Whether the PostgreSQL cases run.
    static let runs = reachable || required

    /// Why they do not, for the skipped test's message.
    static var skipReason: String {
        guard let url else {
            return "no PostgreSQL: CAMPUSPKI_TEST_DATABASE is not set, so the PostgreSQL conformance cases are "
                + "skipped (start one with scripts/throwaway-postgres.sh start DIR and export the line it prints)"
        }
        return "no PostgreSQL answers at \(url.host):\(url.port) (CAMPUSPKI_TEST_DATABASE), so the PostgreSQL "
            + "conformance cases are skipped"
    }

    /// A schema name no other test uses.
    static func freshSchema(_ suffix: String) -> String {
        "t" + SessionKeySchedule.randomBytes(6).hexString + "_" + suffix
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A TCP connection to `host:port` within two seconds.
    static func canConnect(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0
    }
}
