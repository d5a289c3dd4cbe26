/// How a message's content is shown in a terminal.
public enum MessageDisplay {
    /// UTF-8 text without control characters as is (cut at 200 characters), anything else as its size.
    public static func text(_ content: [UInt8]) -> String {
        guard let text = String(validating: content, as: UTF8.self),
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\t" })
        else { return "<\(content.count) bytes>" }
        return text.count > 200 ? text.prefix(200) + "… (\(content.count) bytes)" : text
    }
}
