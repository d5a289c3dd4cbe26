/// Counts in words, with the noun in the singular for one: `1 message`, `2 messages`.
public enum Count {
    /// `count` and `noun`, in the plural unless `count` is 1.
    ///
    /// - Parameters:
    ///   - count: How many.
    ///   - noun: The singular noun; the plural adds "s" unless `plural` says otherwise.
    ///   - plural: The plural, when it is not the singular plus "s".
    public static func of(_ count: some BinaryInteger, _ noun: String, plural: String? = nil) -> String {
        "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
    }
}
