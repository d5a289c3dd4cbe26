import Foundation
import Testing

@testable import CampusPKI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `Terminal.gathering`: the lines a task writes inside it leave in one `write(2)`.
///
/// The lines go to one end of a `SOCK_SEQPACKET` socket pair, which keeps the boundary of every write: each `recv` on
/// the other end returns what one `write` sent.
@Suite struct TerminalTests {
    /// A socket pair whose reading end returns one write per `recv`.
    final class WriteBoundaries {
        let writing: Int32
        let reading: Int32

        init() throws {
            var ends: [Int32] = [0, 0]
            #if canImport(Glibc)
                let kind = Int32(SOCK_SEQPACKET.rawValue)
            #else
                let kind = SOCK_SEQPACKET
            #endif
            guard socketpair(AF_UNIX, kind, 0, &ends) == 0 else {
                throw CampusError(.internalError, "socketpair failed (errno \(errno))")
            }
            (writing, reading) = (ends[0], ends[1])
            // Nothing written must not block the test: the read end does not wait.
            _ = fcntl(reading, F_SETFL, fcntl(reading, F_GETFL) | O_NONBLOCK)
        }

        deinit {
            close(writing)
            close(reading)
        }

        /// What each write sent, in order, until none is waiting.
        func writes() -> [String] {
            var writes: [String] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(reading, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { return writes }
                writes.append(String(decoding: buffer[..<count], as: UTF8.self))
            }
        }
    }

    @Test func linesWrittenInsideAGatheringLeaveInOneWrite() throws {
        let socket = try WriteBoundaries()
        Terminal.gathering(into: socket.writing) {
            Terminal.line("receive from 1155123456 #1: first")
            Terminal.line("receive from 1155123456 #2: second")
            Terminal.line("receive from 1155123456 #3: third")
        }
        #expect(
            socket.writes() == [
                "receive from 1155123456 #1: first\nreceive from 1155123456 #2: second\n"
                    + "receive from 1155123456 #3: third\n"
            ])
    }

    @Test func gatheredLinesAreEscapedLineByLine() throws {
        let socket = try WriteBoundaries()
        Terminal.gathering(into: socket.writing) {
            Terminal.line("a peer's \u{1B}[2Jtext\nwith a line feed")
            Terminal.line("the next line")
        }
        let writes = socket.writes()
        #expect(writes.count == 1)
        let lines = writes.first?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
        // Two lines and the empty rest after the last line feed: the peer's line feed and escape were escaped.
        #expect(lines.count == 3)
        #expect(lines.first?.contains("\u{1B}") == false)
        #expect(lines.dropFirst().first == "the next line")
    }

    @Test func aNestedGatheringWritesWithTheOutermost() throws {
        let socket = try WriteBoundaries()
        Terminal.gathering(into: socket.writing) {
            Terminal.line("one")
            Terminal.gathering(into: socket.writing) { Terminal.line("two") }
            Terminal.line("three")
        }
        #expect(socket.writes() == ["one\ntwo\nthree\n"])
    }

    @Test func linesGatheredBeforeAnErrorAreStillWritten() throws {
        let socket = try WriteBoundaries()
        #expect(throws: CampusError.self) {
            try Terminal.gathering(into: socket.writing) {
                Terminal.line("shown before the failure")
                throw CampusError(.internalError, "failed")
            }
        }
        #expect(socket.writes() == ["shown before the failure\n"])
    }

    @Test func aGatheringWithoutLinesWritesNothing() throws {
        let socket = try WriteBoundaries()
        let value = Terminal.gathering(into: socket.writing) { 42 }
        #expect(value == 42)
        #expect(socket.writes().isEmpty)
    }

    @Test func aLineWrittenAfterItsGatheringEndedIsNotLost() async throws {
        let socket = try WriteBoundaries()
        let (started, release) = AsyncStream.makeStream(of: Void.self)
        var late: Task<Void, Never>?
        Terminal.gathering(into: socket.writing) {
            Terminal.line("inside")
            // A task started inside inherits the gathering, and writes after it has ended.
            late = Task {
                for await _ in started { break }
                Terminal.line("after the gathering")
            }
        }
        #expect(socket.writes() == ["inside\n"])
        release.yield()
        await late?.value
        // Written on its own, as any line, not kept in the gathering that has already been written.
        #expect(socket.writes() == ["after the gathering\n"])
    }
}
