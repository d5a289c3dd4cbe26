import Logging

/// A log handler that escapes control characters in every message and metadata value before another handler
/// writes them, so a value that came from a peer can never forge a log line or drive the terminal.
public struct EscapingLogHandler<Base: LogHandler>: LogHandler {
    public var base: Base

    public init(_ base: Base) {
        self.base = base
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(ControlCharacters.escaped(event.message.description))"
        event.metadata = event.metadata.map { Self.escaped($0) }
        // Metadata set on the logger itself (a peer address, say) is escaped too.
        var base = base
        base.metadata = Self.escaped(base.metadata)
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
