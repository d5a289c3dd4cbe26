import Logging

/// A log handler that escapes control characters in every message and metadata value before another handler
/// writes them, so a value that came from a peer can never forge a log line or drive the terminal.
///
/// The logger's own metadata stays here and reaches the other handler only with an entry that is written, merged
/// into the entry's metadata (the entry's values win, as in swift-log's handlers). A server keeps one logger per
/// connection, with the peer's address and the student, and most of them never write a line; swift-log's
/// `StreamLogHandler` would render its whole metadata into a string each time a key is set, and keep it. The few
/// keys are kept in a small array rather than a dictionary, which would hold several times their size.
///
/// The wrapped handler is kept in a box that every copy shares until one of them changes it: a logger per connection
/// then holds two words here, which fit in the logger's existential, rather than its own copy of the wrapped handler
/// in a box of its own.
public struct EscapingLogHandler<Base: LogHandler>: LogHandler {
    /// Holds the wrapped handler; changed only through ``base``, which copies it first unless this value is its
    /// only owner (copy on write), so no two values ever change one box.
    private final class Box: @unchecked Sendable {
        var base: Base
        init(_ base: Base) { self.base = base }
    }

    private var box: Box
    /// The logger's metadata, in the order the keys were first set.
    private var entries: [(key: String, value: Logger.MetadataValue)]

    /// The wrapped handler.
    public var base: Base {
        get { box.base }
        set {
            if isKnownUniquelyReferenced(&box) {
                box.base = newValue
            } else {
                box = Box(newValue)
            }
        }
    }

    public init(_ base: Base) {
        var base = base
        entries = base.metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        if !entries.isEmpty { base.metadata = [:] }
        box = Box(base)
    }

    public var metadata: Logger.Metadata {
        get { Logger.Metadata(entries.map { ($0.key, $0.value) }) { _, last in last } }
        set { entries = newValue.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) } }
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { entries.first { $0.key == key }?.value }
        set {
            let index = entries.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let index?, let value?): entries[index].value = value
            case (let index?, nil): entries.remove(at: index)
            case (nil, let value?): entries.append((key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(ControlCharacters.escaped(event.message.description))"
        // The logger's metadata (a peer address, say) is escaped too.
        var merged = metadata
        if let own = event.metadata { merged.merge(own) { _, entry in entry } }
        event.metadata = merged.isEmpty ? nil : Self.escaped(merged)
        box.base.log(event: event)
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
