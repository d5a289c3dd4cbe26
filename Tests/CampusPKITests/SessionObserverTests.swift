import Synchronization
import Testing

@testable import CampusPKI

/// `SessionObserver.recording` and `show`: events are logged and handed on at once; their lines wait to be shown.
@Suite struct SessionObserverTests {
    final class Collected: Sendable {
        let lines = Mutex<[String]>([])
        let events = Mutex<[SessionEvent]>([])
    }

    static let student = StudentID("1155123456")!

    static func message(_ sequence: UInt64, _ text: String) -> SessionEvent {
        .messageReceived(
            studentID: student, sequence: sequence, content: Array(text.utf8),
            sealed: Array(text.utf8) + [UInt8](repeating: 0xAB, count: WireMessage.tagLength))
    }

    static func observer(explain: Bool = false, into collected: Collected) -> SessionObserver {
        SessionObserver(
            side: .blackboard, explain: explain,
            reporter: { _, line in collected.lines.withLock { $0.append(line) } },
            sinks: [{ event in collected.events.withLock { $0.append(event) } }])
    }

    @Test func recordingHandsEventsOnAtOnceAndShowsNothingUntilShown() {
        let collected = Collected()
        let observer = Self.observer(into: collected)
        let first = observer.recording([Self.message(1, "first")])
        let second = observer.recording([Self.message(2, "second")])
        #expect(collected.events.withLock { $0.count } == 2)
        #expect(collected.lines.withLock { $0 }.isEmpty)

        observer.show([first, second])
        let lines = collected.lines.withLock { $0 }
        #expect(lines.count == 2)
        #expect(lines.first?.contains("#1: first") == true)
        #expect(lines.last?.contains("#2: second") == true)
    }

    @Test func recordingWithExplainMakesTheDetailsThen() {
        let collected = Collected()
        let observer = Self.observer(explain: true, into: collected)
        observer.show([observer.recording([Self.message(7, "explained")])])
        let lines = collected.lines.withLock { $0 }
        // The step line, then the ciphertext's and the tag's details.
        #expect(lines.count == 3)
        #expect(lines.first?.contains("#7: explained") == true)
        #expect(lines.last?.contains("abababab") == true)
    }

    @Test func callingTheObserverShowsAtOnce() {
        let collected = Collected()
        let observer = Self.observer(into: collected)
        observer([Self.message(1, "now"), .committed(messages: 1, bytes: 3, duration: .zero), Self.message(2, "too")])
        #expect(collected.lines.withLock { $0 }.count == 2)
        #expect(collected.events.withLock { $0 }.count == 3)
    }
}
