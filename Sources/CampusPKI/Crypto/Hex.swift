import X509

extension Collection<UInt8> {
    /// Lower-case hex, two digits a byte.
    public var hexString: String {
        var text: [UInt8] = []
        text.reserveCapacity(count * 2)
        for byte in self {
            text.append(Self.hexDigit(byte >> 4))
            text.append(Self.hexDigit(byte & 0x0f))
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The ASCII lower-case hex digit of a value below 16.
    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

extension Certificate.SerialNumber {
    /// The serial in lower-case hex, as `openssl x509 -serial` shows it (without its colons).
    public var hex: String { bytes.hexString }
}
