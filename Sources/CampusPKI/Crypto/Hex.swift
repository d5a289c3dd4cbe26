import X509

extension Collection<UInt8> {
    /// Lower-case hex, two digits a byte.
    public var hexString: String {
        map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

extension Certificate.SerialNumber {
    /// The serial in lower-case hex, as `openssl x509 -serial` shows it (without its colons).
    public var hex: String { bytes.hexString }
}
