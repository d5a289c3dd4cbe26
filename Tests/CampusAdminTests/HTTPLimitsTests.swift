import CampusAdmin
import CampusPKI
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

/// A small site served the way CUHK's OCSP responder and both web interfaces are (``HTTPServing``), on a free port.
enum TestSite {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let greeting = "hello\n"

    static func with(limits: HTTPLimits, _ body: @Sendable (Int) async throws -> Void) async throws {
        let bound = BoundAddress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let router = Router(options: .autoGenerateHeadEndpoints)
                router.get("/") { _, _ in greeting }
                try await HTTPServing.run(
                    router, host: "127.0.0.1", port: 0, limits: limits, bound: bound, what: "the test site",
                    logger: quiet)
            }
            defer { group.cancelAll() }
            let port = try #require(try await bound.value().port)
            try await body(port)
        }
    }

    /// A GET of `/`, as a browser would send it on a kept-alive connection.
    static let request = "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
}

/// Every HTTP port closes idle and slow connections, caps the request line, the header fields and its connections.
@Suite struct HTTPLimitsTests {
    /// Timeouts a test does not exercise: long enough never to fire while it runs.
    static let never = TimeAmount.seconds(3600)

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await TestSite.with(limits: .init(idleTimeout: .milliseconds(500), headerTimeout: Self.never)) { port in
            // A connection that never sends anything.
            let silent = try await RawHTTPConnection.open(port: port)
            let leftover = try await silent.talk { try await $0.untilClosed() }
            #expect(leftover.isEmpty)
            #expect(!silent.gaveUp, "the server never closed the idle connection")

            // A kept-alive connection after its answer. On a loaded machine the request may come later than the short
            // idle timeout, and the connection is rightly closed first; then a new one tries again.
            var answered: RawHTTPConnection.Answer?
            for _ in 0..<20 where answered == nil {
                let kept = try await RawHTTPConnection.open(port: port)
                answered = try await kept.talk { conversation -> RawHTTPConnection.Answer? in
                    try await conversation.send(TestSite.request)
                    let answer = try await conversation.answer()
                    #expect(try await conversation.untilClosed().isEmpty)
                    return answer
                }
                #expect(!kept.gaveUp, "the server never closed the kept-alive connection")
            }
            #expect(answered?.status == 200)
            #expect(answered?.body == TestSite.greeting)
        }
    }

    @Test func aHeadThatDoesNotArriveInTimeGets408() async throws {
        let limits = HTTPLimits(idleTimeout: Self.never, headerTimeout: .milliseconds(300))
        try await TestSite.with(limits: limits) { port in
            let slow = try await RawHTTPConnection.open(port: port)
            let answer = try await slow.talk { conversation -> RawHTTPConnection.Answer? in
                // A request line and one field, then nothing: the empty line never comes.
                try await conversation.send("GET / HTTP/1.1\r\nHost: test\r\n")
                let answer = try await conversation.answer()
                _ = try await conversation.untilClosed()
                return answer
            }
            let expected = HTTPRefusal.tooSlow(limits.headerTimeout)
            #expect(answer?.status == Int(expected.status.code))
            #expect(answer?.header("Connection") == "close")
            #expect(answer?.body == expected.reason + "\n")
            #expect(!slow.gaveUp)
        }
    }

    @Test func anOversizedRequestLineGets414AndTheLimitItselfIsServed() async throws {
        let limits = HTTPLimits()
        try await TestSite.with(limits: limits) { port in
            // "GET " + path + " HTTP/1.1" is exactly the limit: served (404, no such page).
            let fits = "/" + String(repeating: "a", count: limits.maximumRequestLineBytes - 14)
            let atLimit = try await RawHTTPConnection.open(port: port)
            let served = try await atLimit.talk { conversation in
                try await conversation.send("GET \(fits) HTTP/1.1\r\nHost: test\r\n\r\n")
                return try await conversation.answer()
            }
            #expect(served?.status == 404)

            let tooLong = try await RawHTTPConnection.open(port: port)
            let answer = try await tooLong.talk { conversation -> RawHTTPConnection.Answer? in
                try await conversation.send("GET \(fits)a HTTP/1.1\r\nHost: test\r\n\r\n")
                let answer = try await conversation.answer()
                _ = try await conversation.untilClosed()
                return answer
            }
            let expected = HTTPRefusal.requestLineTooLong(limit: limits.maximumRequestLineBytes)
            #expect(answer?.status == Int(expected.status.code))
            #expect(answer?.status == 414)
            #expect(answer?.body == expected.reason + "\n")
            #expect(!tooLong.gaveUp, "the connection stayed open after the refusal")

            // A request line that never ends is refused as soon as it passes the limit.
            let endless = try await RawHTTPConnection.open(port: port)
            let refused = try await endless.talk { conversation in
                try await conversation.send("GET /" + String(repeating: "b", count: limits.maximumRequestLineBytes))
                return try await conversation.answer()
            }
            #expect(refused?.status == 414)
        }
    }

    @Test func headerFieldsOverTheLimitGet431() async throws {
        let limits = HTTPLimits()
        let expected = HTTPRefusal.headersTooLarge(limit: limits.maximumHeaderBytes, fields: limits.maximumHeaderFields)
        try await TestSite.with(limits: limits) { port in
            let large = "X-Filler: " + String(repeating: "x", count: limits.maximumHeaderBytes) + "\r\n"
            let many = (0...limits.maximumHeaderFields).map { "X-Field-\($0): 1\r\n" }.joined()
            for fields in [large, many] {
                let connection = try await RawHTTPConnection.open(port: port)
                let answer = try await connection.talk { conversation -> RawHTTPConnection.Answer? in
                    try await conversation.send("GET / HTTP/1.1\r\nHost: test\r\n" + fields + "\r\n")
                    let answer = try await conversation.answer()
                    _ = try await conversation.untilClosed()
                    return answer
                }
                #expect(answer?.status == Int(expected.status.code))
                #expect(answer?.status == 431)
                #expect(answer?.body == expected.reason + "\n")
                #expect(!connection.gaveUp)
            }
            // Within the limits, the same site answers.
            let fine = try await RawHTTPConnection.open(port: port)
            let answer = try await fine.talk { conversation in
                try await conversation.send("GET / HTTP/1.1\r\nHost: test\r\nX-Field: 1\r\n\r\n")
                return try await conversation.answer()
            }
            #expect(answer?.status == 200)
        }
    }

    /// Opens two connections and has each served a request; with both open, runs `body` with the second's
    /// conversation; then has the first served again.
    static func whileTwoAreServed(port: Int, _ body: (inout RawHTTPConnection.Conversation) async throws -> Void)
        async throws
    {
        let first = try await RawHTTPConnection.open(port: port)
        let second = try await RawHTTPConnection.open(port: port)
        try await first.talk { one in
            try await one.send(TestSite.request)
            #expect(try await one.answer()?.status == 200)
            try await second.talk { two in
                try await two.send(TestSite.request)
                #expect(try await two.answer()?.status == 200)
                try await body(&two)
            }
            try await one.send(TestSite.request)
            #expect(try await one.answer()?.body == TestSite.greeting)
        }
    }

    /// What a new connection from 127.0.0.1 is answered, read until the server closes it.
    static func answerOfAnother(port: Int) async throws -> RawHTTPConnection.Answer? {
        let another = try await RawHTTPConnection.open(port: port)
        let answer = try await another.talk { conversation -> RawHTTPConnection.Answer? in
            let answer = try await conversation.answer()
            _ = try await conversation.untilClosed()
            return answer
        }
        #expect(!another.gaveUp)
        return answer
    }

    @Test func aConnectionOverTheCapIsRefusedWhileTheOthersWork() async throws {
        let limits = HTTPLimits(maximumConnections: 2)
        try await TestSite.with(limits: limits) { port in
            try await Self.whileTwoAreServed(port: port) { two in
                // Both places are taken: the third is answered 503 at once and closed.
                let refused = try await Self.answerOfAnother(port: port)
                let expected = HTTPRefusal.busy(limit: limits.maximumConnections)
                #expect(refused?.status == Int(expected.status.code))
                #expect(refused?.body == expected.reason + "\n")
                // The connections served go on.
                try await two.send(TestSite.request)
                #expect(try await two.answer()?.body == TestSite.greeting)
            }
        }
    }

    /// One address may hold only its share of the port: its next connection is refused, another address's served.
    @Test func aConnectionOverItsAddresssShareIsRefusedWhileOtherAddressesAreServed() async throws {
        let limits = HTTPLimits(maximumConnections: 8, maximumConnectionsPerAddress: 2)
        try await TestSite.with(limits: limits) { port in
            try await Self.whileTwoAreServed(port: port) { _ in
                // 127.0.0.1 has both of its places; its third connection is answered 503 at once and closed.
                let refused = try await Self.answerOfAnother(port: port)
                let expected = HTTPRefusal.busy(
                    limit: 2, from: try #require(SourceAddress(try SocketAddress(ipAddress: "127.0.0.1", port: 0))))
                #expect(refused?.status == 503)
                #expect(refused?.body == expected.reason + "\n")
                #expect(refused?.body.contains("from 127.0.0.1 on this port") == true)
                // Another address (Linux routes all of 127/8 to the loopback interface) is served.
                let other = try await RawHTTPConnection.open(port: port, from: "127.0.0.2")
                try await other.talk { conversation in
                    try await conversation.send(TestSite.request)
                    #expect(try await conversation.answer()?.body == TestSite.greeting)
                }
            }
            // Both have closed: 127.0.0.1 has its places again.
            let started = ContinuousClock.now
            var answer: RawHTTPConnection.Answer?
            repeat {
                let again = try await RawHTTPConnection.open(port: port)
                answer = try await again.talk { conversation in
                    try await conversation.send(TestSite.request)
                    return try await conversation.answer()
                }
            } while answer?.status != 200 && ContinuousClock.now - started < .seconds(60)
            #expect(answer?.status == 200)
        }
    }

    @Test func headAnswersAsGetWithoutABody() async throws {
        try await TestSite.with(limits: .init()) { port in
            let connection = try await RawHTTPConnection.open(port: port)
            try await connection.talk { conversation in
                try await conversation.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n")
                let head = try #require(try await conversation.answer(toHead: true))
                // The same connection goes on: no body bytes came after the head.
                try await conversation.send(TestSite.request)
                let get = try #require(try await conversation.answer())
                #expect(head.status == 200)
                #expect(head.status == get.status)
                #expect(head.header("Content-Length") == String(TestSite.greeting.utf8.count))
                #expect(head.header("Content-Length") == get.header("Content-Length"))
                #expect(head.header("Content-Type") == get.header("Content-Type"))
                #expect(get.body == TestSite.greeting)
            }
        }
    }
}

/// README's table of the HTTP ports' limits says what the code does.
@Suite struct HTTPLimitsDocumentationTests {
    /// `8,192`, as README writes numbers.
    static func grouped(_ number: Int) -> String {
        let digits = Array(String(number))
        return digits.enumerated().map { index, digit in
            index > 0 && (digits.count - index) % 3 == 0 ? ",\(digit)" : "\(digit)"
        }.joined()
    }

    @Test func readmeStatesEveryDefault() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let rows = [
            "| silence between requests (keep-alive), and before the first | \(HTTPLimits.defaultIdleTimeoutSeconds) s "
                + "| `--http-idle-timeout` |",
            "| a request's line and header fields, from its first byte | \(HTTPLimits.defaultHeaderTimeoutSeconds) s "
                + "| `--http-header-timeout` | 408",
            "| connections served at once, per port | \(HTTPLimits.defaultMaximumConnections) | `--http-max-connections` "
                + "| 503",
            "| connections served at once from one address (IPv4, or IPv6 /64), per port | "
                + "\(HTTPLimits.defaultMaximumConnectionsPerAddress) | `--http-max-connections-per-address` | 503",
            "(\(Self.grouped(HTTPLimits.defaultMaximumRequestLineBytes)) bytes) | fixed | 414",
            "(\(Self.grouped(HTTPLimits.defaultMaximumHeaderBytes)) bytes), at most "
                + "\(HTTPLimits.defaultMaximumHeaderFields) fields | fixed | 431",
            "at most once every \(CachedProbe<[String]>.defaultInterval.components.seconds) s",
            "at most \(HTTPLimits.maximumLingeringRefusals) refused connections per port wait so",
        ]
        for row in rows {
            #expect(readme.contains(row), "README lacks: \(row)")
        }
    }
}

/// The head scanner in front of the decoder, fed by hand.
@Suite struct HTTPRequestHeadScannerTests {
    static func scan(_ parts: [String], limits: HTTPLimits = .init()) -> [HTTPRequestHeadScanner.Outcome] {
        var scanner = HTTPRequestHeadScanner(limits: limits)
        return parts.map { scanner.scan(ByteBuffer(string: $0).readableBytesView) }
    }

    @Test func aHeadInPiecesIsCompleteAtItsEmptyLine() {
        #expect(
            Self.scan(["GE", "T / HTTP/1.1\r", "\nHost: a\r\n", "\r", "\nbody"]) == [
                .incomplete, .incomplete, .incomplete, .incomplete, .complete,
            ])
        // Empty lines before the request line are skipped; bare LF ends lines too.
        #expect(Self.scan(["\r\n\r\nGET / HTTP/1.1\nHost: a\n\n"]) == [.complete])
        // After the head nothing more is looked at: a body of any size.
        #expect(
            Self.scan(["GET / HTTP/1.1\r\n\r\n", String(repeating: "x", count: 100_000)]) == [.complete, .complete])
    }

    @Test func limitsAreExact() {
        let limits = HTTPLimits(maximumRequestLineBytes: 10, maximumHeaderBytes: 12, maximumHeaderFields: 2)
        #expect(Self.scan(["0123456789\r\n\r\n"], limits: limits) == [.complete])
        #expect(Self.scan(["0123456789A"], limits: limits) == [.requestLineTooLong])
        // 12 bytes of fields with their line ends and the empty line: "a: 1\r\n" "b: 2\r\n" is 12, "\r\n" is over.
        #expect(Self.scan(["GET\r\na: 1\r\nb: 2\r\n\r\n"], limits: limits) == [.headersTooLarge])
        #expect(Self.scan(["GET\r\na:1\r\nb:2\r\n\r\n"], limits: limits) == [.complete])
        #expect(Self.scan(["GET\na\nb\nc\n\n"], limits: limits) == [.headersTooLarge])
    }
}
