import CampusPKI
import Foundation
import NIOCore

/// One valid message of every type, for the seed corpora of the WireMessage and FrameDecoder targets. The values
/// are those of docs/PROTOCOL.md, section 7, where it has them.
public enum SeedMessages {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex), index < text.endIndex {
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static let sessionID = hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
    static let certificatePEM = "-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n"
    static let requestPEM = "-----BEGIN CERTIFICATE REQUEST-----\nVEVTVA==\n-----END CERTIFICATE REQUEST-----\n"
    static let message1 = Array("This is No.1 Message.".utf8)

    /// One message of each ``WireMessage/Kind``, named after it.
    public static let all: [(name: String, message: WireMessage)] = [
        ("enrollmentRequest", .enrollmentRequest(csrPEM: requestPEM)),
        ("enrollmentCertificate", .enrollmentCertificate(certificatePEM: certificatePEM, rootPEM: certificatePEM)),
        (
            "uploadRequest",
            .uploadRequest(requestText: "SID:1155123456 requests to upload report !", certificatePEM: certificatePEM)
        ),
        ("sessionKey", .sessionKey(sessionID: sessionID, encryptedKey: Array(repeating: 0x5a, count: 256))),
        (
            "keyConfirmation",
            .keyConfirmation(mac: hex("b273308e7c7b45f96b678c3ae6bd76b334232e98f1eb3194a09a898ca4f75d8a"))
        ),
        ("sessionSecure", .sessionSecure(mac: hex("a74830d4f62dd86a1303c7526fa153cfa73d661c9071fbbb6dee66d26249d10c"))),
        (
            "reportMessage",
            .reportMessage(
                sequence: 1,
                content: message1,
                mac: hex("9139417311e7b398e271a14df14f0d054380ec1e94a54d6959641d652897168e")
            )
        ),
        ("messageAcknowledged", .messageAcknowledged(sequence: 1)),
        (
            "endOfReport",
            .endOfReport(sequence: 3, mac: hex("62f034df70ed44ce5b7d205a1f2daa6acf352e80b140edb2f499311fa1efd260"))
        ),
        (
            "receipt",
            .receipt(
                ReportReceipt(
                    reportID: 1,
                    messageCount: 2,
                    totalBytes: 42,
                    digest: hex("90b9283ae81b01f4e641759471df0b14885f7c23ecc260ee12c176953f480ee0")
                )
            )
        ),
        ("error", .error(CampusError(.sidMismatch, "the certificate is for 1155000000, not 1155123456"))),
    ]

    /// A message's payload, as `WireMessage.encoded()` writes it.
    public static func payload(_ message: WireMessage) -> [UInt8] {
        Array(message.encoded().readableBytesView)
    }

    /// A payload with its 4-byte length, as it travels in a frame.
    public static func frame(_ message: WireMessage) -> [UInt8] {
        let payload = payload(message)
        return withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    /// With `CAMPUSPKI_FUZZ_WRITE_SEEDS=<directory>` in the environment, writes `seeds` there and exits; the
    /// targets call this from `LLVMFuzzerInitialize`, so `scripts/fuzz.sh seeds` regenerates the committed corpus
    /// with the library's own encoder.
    public static func writeIfAsked(_ seeds: () -> [(name: String, bytes: [UInt8])]) {
        guard let directory = ProcessInfo.processInfo.environment["CAMPUSPKI_FUZZ_WRITE_SEEDS"] else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for seed in seeds() {
                try Data(seed.bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent(seed.name))
            }
        } catch {
            fatalError("cannot write the seeds to \(directory): \(error)")
        }
        print("wrote \(seeds().count) seeds to \(directory)")
        exit(0)
    }
}
