import CampusPKI
import Foundation

/// The `--json` output of the listing commands: one JSON document on standard output, keys in snake_case and
/// sorted, times as ISO 8601 in UTC. README documents the fields; they are a stable format.
public enum JSONOutput {
    /// Prints `value` as pretty-printed JSON.
    public static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// `2026-11-27T16:12:51Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
