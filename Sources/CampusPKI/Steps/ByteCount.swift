/// Sizes in words: `1 MiB`, `64 KiB`, `1,500 bytes`.
public enum ByteCount {
    /// `bytes` as a whole number of MiB or KiB when it is one, else in bytes.
    public static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return Count.of(bytes, "byte")
    }

    /// `2000000` as `2,000,000`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }
}
