import CampusPKI
import Logging
import Synchronization
import Testing

/// The log handler every server installs: it escapes what could forge a log line, and keeps the logger's metadata
/// until an entry is written.
@Suite struct EscapingLogHandlerTests {
    /// What reached the wrapped handler.
    final class Recorder: Sendable {
        let entries = Mutex<[(message: String, metadata: Logger.Metadata?)]>([])
        let metadataWrites = Atomic<Int>(0)
    }

    /// A handler that records the entries it is given and counts writes to its own metadata.
    struct RecordingHandler: LogHandler {
        let recorder: Recorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:] {
            didSet { recorder.metadataWrites.add(1, ordering: .relaxed) }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.entries.withLock { $0.append((event.message.description, event.metadata)) }
        }
    }

    @Test func theLoggersMetadataReachesTheEntryEscapedAndTheEntryWins() {
        let recorder = Recorder()
        var logger = Logger(label: "test") { _ in EscapingLogHandler(RecordingHandler(recorder: recorder)) }
        logger[metadataKey: "peer"] = "10.0.0.1:4000\nforged=line"
        logger[metadataKey: "sid"] = "1155000001"
        // Setting keys does not touch the wrapped handler (a StreamLogHandler would render them each time).
        #expect(recorder.metadataWrites.load(ordering: .relaxed) == 0)
        logger.warning("refused\u{1B}[31m", metadata: ["sid": "1155000002", "error": "bad\r\nframe"])
        logger.info("no metadata of its own")
        let entries = recorder.entries.withLock { $0 }
        #expect(entries.count == 2)
        #expect(entries.first?.message == "refused\\u{1B}[31m")
        #expect(
            entries.first?.metadata == [
                "peer": "10.0.0.1:4000\\nforged=line", "sid": "1155000002", "error": "bad\\r\\nframe",
            ])
        #expect(entries.last?.metadata == ["peer": "10.0.0.1:4000\\nforged=line", "sid": "1155000001"])
        #expect(logger[metadataKey: "sid"] == "1155000001")
    }

    @Test func settingAKeyAgainReplacesItAndNilRemovesIt() {
        var handler = EscapingLogHandler(RecordingHandler(recorder: Recorder()))
        handler[metadataKey: "peer"] = "10.0.0.1:4000"
        handler[metadataKey: "sid"] = "1155000001"
        handler[metadataKey: "peer"] = "10.0.0.2:4000"
        #expect(handler.metadata == ["peer": "10.0.0.2:4000", "sid": "1155000001"])
        handler[metadataKey: "peer"] = nil
        #expect(handler.metadata == ["sid": "1155000001"])
        #expect(handler[metadataKey: "peer"] == nil)
        handler.metadata = ["program": "blackboard"]
        #expect(handler[metadataKey: "sid"] == nil)
        #expect(handler[metadataKey: "program"] == "blackboard")
    }

    /// Copies share the wrapped handler until one changes it; the change stays with that copy.
    @Test func aCopyThatChangesTheWrappedHandlerChangesOnlyItself() {
        let recorder = Recorder()
        var first = EscapingLogHandler(RecordingHandler(recorder: recorder))
        first.logLevel = .info
        var second = first
        second.logLevel = .error
        second.base.metadata = ["changed": "yes"]
        #expect(first.logLevel == .info)
        #expect(second.logLevel == .error)
        #expect(first.base.metadata.isEmpty)
        #expect(second.base.metadata == ["changed": "yes"])
    }

    @Test func aLoggerWithoutMetadataPassesNone() {
        let recorder = Recorder()
        let logger = Logger(label: "test") { _ in EscapingLogHandler(RecordingHandler(recorder: recorder)) }
        logger.error("plain")
        #expect(recorder.entries.withLock { $0.first?.metadata } == nil)
    }

    @Test func metadataTheWrappedHandlerHadIsKept() {
        let recorder = Recorder()
        var base = RecordingHandler(recorder: recorder)
        base.metadata = ["program": "blackboard"]
        let logger = Logger(label: "test") { _ in EscapingLogHandler(base) }
        logger.notice("started")
        #expect(recorder.entries.withLock { $0.first?.metadata } == ["program": "blackboard"])
    }
}
