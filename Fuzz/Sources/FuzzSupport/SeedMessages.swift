import CampusPKI
import Foundation
import NIOCore

/// One valid message of every type, for the seed corpora of the WireMessage and FrameDecoder targets. The payloads of
/// both conversations are docs/PROTOCOL.md's version-2 vectors (section 7).
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

    /// A message decoded from one of docs/PROTOCOL.md's payload vectors (split over several strings).
    static func vector(_ parts: String...) -> WireMessage {
        do {
            return try WireMessage.decode(ByteBuffer(bytes: hex(parts.joined())))
        } catch {
            fatalError("a seed payload does not decode: \(error)")
        }
    }

    /// One message of each ``WireMessage/Kind``, named after it.
    public static let all: [(name: String, message: WireMessage)] = [
        (
            "enrollmentHello",
            vector(
                "0207358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254c0c1c2c3c4c5c6c7c8c9cacbcccd",
                "cecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
            )
        ),
        (
            "enrollmentOffer",
            vector(
                "02080000003f2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a5131564953773d3d0a2d2d2d2d2d",
                "454e442043455254494649434154452d2d2d2d2d0a0000003f2d2d2d2d2d424547494e2043455254494649434154452d",
                "2d2d2d2d0a556b395056413d3d0a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a736845d54e87de09",
                "d6bb114aa7042c50a4a015bd9901d1a0026f5956533a1519"
            )
        ),
        (
            "enrollmentSignature",
            vector(
                "020900000046304402204c68fca3baf229109d95180146938da8be2c9d16e3486d6c183c1a567d7d782502206a282d98",
                "03231b815388c390aa6c1195a4fab628119c41497bd57912f724b33e"
            )
        ),
        (
            "enrollmentRequest",
            vector(
                "020a000000000000000100000087a568963baaef515b8e3cbb2f5da1ed0f660374577c042e9cce12981a36f3a3d4118f",
                "05bbadaffb52821156d1011b65d5d2934b56e0d3b06590f18aa7342d297f44038028e1ad65ffc53793b0778841e82eaa",
                "19c055d0b1a7d74bde686d94f7eff02fe516e4422b3dd6250d626327a70f9c7f101b01ff1578f7369b7eb9afcdd79e26",
                "fcf7c37158"
            )
        ),
        (
            "renewalRequest",
            vector(
                "020b0000000000000001000001aaa568964baaef515b8e3cbb2f5da1ed0f660374577c042e9cce1295655e8fdb9b149e",
                "7ec2d6c3eb65c57d36bf6d6761a69c9e253e9faabc6d9d9288b623544d14206dcb7ca48d7897b94ffbce61e02b8c4da7",
                "50850784d8b016eb309b276fc91572c3b6d79c11a19063a3248166368ae1121e7e925d4713bcccd7f961ee26d1b4144f",
                "0abb916758c412cc1f6b2eeaf3c327932796153a7748d664538761fe1697c509c300ad69edb7840fd567cbaa63e8a8e1",
                "db680103e629bc51eeda3255918a2c693ea74f0f4db8d511bff607e34ef85ebc957efd830ba15796312743ea7fd1426f",
                "cd61a645f393ced8b54e2b8b9b658c1939bf739fd77428396cbd761196bed578c9edbb8d7742e0df0b641a1173b88523",
                "b78697ee56e634aea4e78093b11a45c3bd1020bbb679ead37c44b3eeae52cfce0828d7bc94946d854a597073d37daed4",
                "d3482bfc697b9b2e4f1e8b2c095799d820a077c03b7f48f1e60956643968ce2e3f7939ecd4e5261b080a15ae436bb954",
                "be89ac70fe81e260528b1eae019a0ee019e9dcf3888e05084798aa4c83d8984991a198c5204dab144a6f4cfea3391d9b",
                "ce82d020be260c6c"
            )
        ),
        (
            "enrollmentCertificate",
            vector(
                "020c00000000000000010000004f5847e0f0f487c808484e1913882f1ab09dcb3ad31eefcd0fbbe699250db932d9915d",
                "8e8e884c9e72a28e62de26bad351e2c2bfe9d72555f485b80884eae69491834c70415ccf488a30ee6f233a1b01"
            )
        ),
        (
            "uploadRequest",
            vector(
                "02100000002a5349443a3131353531323334353620726571756573747320746f2075706c6f6164207265706f72742021",
                "0000003f2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a5645565456413d3d0a2d2d2d2d2d454e",
                "442043455254494649434154452d2d2d2d2d0a00000002613179a631eede1bf9c98f12032cdeadd0e7a079398fc786b8",
                "8cc846ec89af85a51a808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
            )
        ),
        (
            "sessionKey",
            vector(
                "0211a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000472d2d2d2d2d424547494e2043455254494649434154452d2d2d2d",
                "2d0a516b7842513074435430465352413d3d0a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a675dd5",
                "74ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f000001005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a00000002613100000014323032362d31322d30315432333a35393a35395a"
            )
        ),
        (
            "blackboardSignature",
            vector(
                "021900000046304402203c45d4dbb900bfa2fadcbf588d1a4379be188a345acbdf194a95abca364dca8e022067a8816e",
                "7de7955e7ef47b287c476b895e25066a6190469d8602fc512cad04c2"
            )
        ),
        (
            "keyConfirmation",
            vector(
                "0212710f55dc7195aa5feb1dfd9cc49b271f6d89e9fe10934e1939a87ec48a77360b"
            )
        ),
        (
            "sessionSecure",
            vector(
                "0213397b475e29f056960987edd0394af73893dac4e41e7fb26dbfabd89d4f925769"
            )
        ),
        (
            "reportMessage",
            vector(
                "0214000000000000000100000025095ea82c1fff2d83b3444fde56d31fb4c6e121d16a296515894c5ecad5a26120b579",
                "af98a2"
            )
        ),
        (
            "messageAcknowledged",
            vector(
                "02150000000000000001000000109982e54e792273aa0fc7bd110958b2a5"
            )
        ),
        (
            "endOfReport",
            vector(
                "02160000000000000003000000109c0a29c5c3a10b091e72547c37359c96"
            )
        ),
        (
            "receipt",
            vector(
                "021700000000000000030000013547dfb3c1d845afbaef2cf70a6ab2aa6e114d62e6030fe10f54e27586b77fbf6a8618",
                "249abe2fe21a5cb2b81dd17aabf0252199be69f35457d6dda9976e7df48a64a1c225ef6a6419f6aa73be61e05fa14558",
                "c08737c148adf0e7c082379995a4b48565b17d7e32a726f826120fa179343866e1cafb2bd206dfda537a85a060820a38",
                "c2e395909815662b7bd78522e65be703282381cd0a6248c7851fd4cd0a914d82f77948568f8804f42b3ff7ce3d4827d7",
                "31e1683d500bddca8251c51814cefdf62a00092727dc7384f64cbea54b5065c34b6753fb171bf1ea9347c997db97ebc5",
                "365733950f76afff668abf359d8daab5778ea708549d84c64b211d3ba302a9dc5b70e0f0ae5269a3356b3a1f35ce2ce4",
                "6f5b785f961c7be3e251be51e4ba1b1162fa2311e21e59a1fb3476cb948cab5aa37d68"
            )
        ),
        ("keepAlive", .keepAlive),
        ("assignmentsQuery", .assignmentsQuery),
        (
            "assignmentList",
            .assignmentList([
                ListedAssignment(name: "a1", deadline: "2026-12-01T23:59:59Z", refusesLate: false),
                ListedAssignment(name: "report", deadline: "", refusesLate: true),
            ])
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
