import X509

extension Collection<UInt8> {
    /// Lower-case hex, two digits a byte.
    public var hexString: String {
        var text: [UInt8] = []
        text.reserveCapacity(count * 2)
        for byte in self {
            text.append(Self.hexDigit(byte >> 4, letters: UInt8(ascii: "a")))
            text.append(Self.hexDigit(byte & 0x0f, letters: UInt8(ascii: "a")))
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Upper-case hex pairs joined by colons, as `openssl x509 -fingerprint` prints a fingerprint.
    public var colonSeparatedHex: String {
        var text: [UInt8] = []
        text.reserveCapacity(count * 3)
        for byte in self {
            if !text.isEmpty { text.append(UInt8(ascii: ":")) }
            text.append(Self.hexDigit(byte >> 4, letters: UInt8(ascii: "A")))
            text.append(Self.hexDigit(byte & 0x0f, letters: UInt8(ascii: "A")))
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The ASCII hex digit of a value below 16, its letters from `letters` (`a` or `A`) on.
    private static func hexDigit(_ value: UInt8, letters: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : letters + value - 10
    }
}

extension Certificate.SerialNumber {
    /// The serial in lower-case hex, as `openssl x509 -serial` shows it (without its colons).
    public var hex: String { bytes.hexString }
}
