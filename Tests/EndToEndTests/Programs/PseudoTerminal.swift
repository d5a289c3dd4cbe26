import CampusCommandLine
import CampusPKI
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program on a pseudo-terminal, as a person at a terminal would, and types an answer once a prompt appears.
enum PseudoTerminal {
    struct Outcome {
        var status: Int32
        /// Everything the terminal showed.
        var output: String
    }

    static func run(
        _ path: String, _ arguments: [String], in directory: String, answering prompt: String, with answer: String,
        limit: Duration = .seconds(120)
    ) throws -> Outcome {
        // /dev/ptmx with Linux's ioctls: TIOCSPTLCK unlocks the other end, TIOCGPTN names it.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw CampusError(.internalError, "no pseudo-terminal")
        }
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw CampusError(.internalError, "cannot open /dev/pts/\(number)") }
        defer { close(master) }
        let process: ChildProcess
        do {
            defer { close(slave) }
            process = try ChildProcess.launch(
                path, arguments: arguments, directory: directory, standardInput: .descriptor(slave),
                standardOutput: .descriptor(slave), standardError: .descriptor(slave))
        }
        var output: [UInt8] = []
        var answered = false
        let deadline = ContinuousClock.now + limit
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) >= 0 else { break }
            if poller.revents & Int16(POLLIN) != 0 {
                let count = read(master, &buffer, buffer.count)
                if count <= 0 { break }
                output += buffer[0..<count]
            } else if poller.revents & Int16(POLLHUP | POLLERR) != 0 {
                break
            } else if !process.isRunning {
                break
            }
            if !answered, String(decoding: output, as: UTF8.self).contains(prompt) {
                answered = true
                let line = Array((answer + "\n").utf8)
                _ = line.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
            }
        }
        process.signal(SIGTERM)
        return Outcome(
            status: process.waitBlocking().statusOrSignal, output: String(decoding: output, as: UTF8.self))
    }
}
