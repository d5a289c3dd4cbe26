import Logging

/// A log handler that escapes control characters in every message and metadata value before another handler
/// writes them, so a value that came from a peer can never forge a log line or drive the terminal.
///
/// The logger's own metadata stays here and reaches the other handler only with an entry that is written, merged
/// into the entry's metadata (the entry's values win, as in swift-log's handlers). A server keeps one logger per
/// connection, with the peer's address and the student, and most of them never write a line; swift-log's
/// `StreamLogHandler` would render its whole metadata into a string each time a key is set, and keep it.
public struct EscapingLogHandler<Base: LogHandler>: LogHandler {
    public var base: Base
    public var metadata: Logger.Metadata

    public init(_ base: Base) {
        self.base = base
        metadata = base.metadata
        if !metadata.isEmpty { self.base.metadata = [:] }
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(ControlCharacters.escaped(event.message.description))"
        // The logger's metadata (a peer address, say) is escaped too.
        var merged = metadata
        if let own = event.metadata { merged.merge(own) { _, entry in entry } }
        event.metadata = merged.isEmpty ? nil : Self.escaped(merged)
        base.log(event: event)
    }

    static func escaped(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues(escaped)
    }

    static func escaped(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(ControlCharacters.escaped(text))
        case .stringConvertible(let convertible): .string(ControlCharacters.escaped(convertible.description))
        case .array(let values): .array(values.map(escaped))
        case .dictionary(let values): .dictionary(values.mapValues(escaped))
        }
    }
}
