import CampusPKI
import X509

/// Certificate serial numbers: 16 bytes from the system CSPRNG with the top two bits fixed (126 random bits),
/// so the number is positive, never zero, and always 16 bytes long.
///
/// RFC 5280 asks for positive serials of at most 20 bytes; CA/Browser rules ask for at least 64 random bits.
/// The registry's PRIMARY KEY constraint catches the (astronomically unlikely) repeat.
enum SerialNumbers {
    static func random() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive, and a full 16 bytes (no leading zero to strip)
        return Certificate.SerialNumber(bytes: bytes)
    }
}
