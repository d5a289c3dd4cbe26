import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

/// What docs/PROTOCOL.md says of the PEM a receiver accepts (section 3.1) and of the Student's check 4 of
/// Blackboard's certificate (section 5.5), held to the code.
@Suite struct DocumentedParsingTests {
    typealias PKI = SignedReceiptTests.PKI

    static let pem = try! PKI.service().serializeAsPEM().pemString

    static func parses(_ text: String) -> Bool {
        (try? StudentCertificateVerifier.parseCertificate(pem: text)) != nil
    }

    // MARK: - 3.1: PEM

    @Test func textBeforeTheBeginLineAndAfterTheEndLineIsIgnored() {
        let pem = Self.pem
        #expect(Self.parses(pem))
        #expect(Self.parses(pem + "\n"))
        // OpenSSL's "Bag Attributes" and `openssl x509 -text` output around the block.
        #expect(Self.parses("Bag Attributes\n    localKeyID: 01 02\nsubject=CN=blackboard\n\n" + pem + "\n"))
        #expect(Self.parses(pem + "\nCertificate:\n    Data: …\n"))
        // The markers need not start a line, and CRLF line ends are read as LF.
        #expect(Self.parses("text -----" + pem.dropFirst(5)))
        #expect(Self.parses(pem.replacingOccurrences(of: "\n", with: "\r\n")))
        // A BEGIN marker with no line break after it is not a block: text like any other.
        #expect(Self.parses(pem + "\n-----BEGIN CERTIFICATE-----"))
    }

    @Test func aSecondBlockAnUnendedBlockOrWrongLinesAreRefused() {
        let pem = Self.pem
        #expect(!Self.parses(pem + "\n" + pem))
        #expect(!Self.parses(pem + "\n-----BEGIN CERTIFICATE-----\n"))
        #expect(!Self.parses(String(pem.dropLast("-----END CERTIFICATE-----".count))))
        // Mismatched labels, and base64 lines of 76 characters.
        #expect(!Self.parses(pem.replacingOccurrences(of: "END CERTIFICATE", with: "END X509 CRL")))
        let body = pem.split(separator: "\n").dropFirst().dropLast().joined()
        var long = "-----BEGIN CERTIFICATE-----\n"
        var rest = Substring(body)
        while !rest.isEmpty {
            long += rest.prefix(76) + "\n"
            rest = rest.dropFirst(76)
        }
        long += "-----END CERTIFICATE-----"
        #expect(!Self.parses(long))
        // Nothing but text, or no block at all.
        #expect(!Self.parses("CERTIFICATE"))
    }

    // MARK: - 5.5 check 4

    /// A Blackboard certificate from `PKI.root` with the extensions chosen.
    static func blackboard(
        basicConstraints: BasicConstraints? = .notCertificateAuthority, criticalBasicConstraints: Bool = true,
        keyUsage: KeyUsage? = KeyUsage(digitalSignature: true),
        extendedKeyUsage: [ExtendedKeyUsage.Usage]? = [.serverAuth]
    ) throws -> String {
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: Certificate.PublicKey(PKI.serviceKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: PKI.rootName, subject: try DistinguishedName { CommonName("blackboard") },
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                if let basicConstraints {
                    if criticalBasicConstraints { Critical(basicConstraints) } else { basicConstraints }
                }
                if let keyUsage { Critical(keyUsage) }
                if let extendedKeyUsage { try ExtendedKeyUsage(extendedKeyUsage) }
                SubjectAlternativeNames([.dnsName("blackboard")])
            },
            issuerPrivateKey: Certificate.PrivateKey(PKI.rootKey))
        return try certificate.serializeAsPEM().pemString
    }

    static func failure(_ pem: String) async -> BlackboardAuthenticationError? {
        do {
            _ = try await BlackboardCertificateVerifier(root: PKI.root, expectedName: "blackboard")
                .verify(certificatePEM: pem)
            return nil
        } catch {
            return error
        }
    }

    @Test func checkFourRequiresEachExtensionToBePresent() async throws {
        #expect(await Self.failure(try Self.blackboard()) == nil)
        // BasicConstraints CA:FALSE need not be critical.
        #expect(await Self.failure(try Self.blackboard(criticalBasicConstraints: false)) == nil)
        let refused: [(String, String)] = [
            (try Self.blackboard(basicConstraints: nil), "CA:FALSE"),
            (try Self.blackboard(basicConstraints: .isCertificateAuthority(maxPathLength: nil)), "CA:FALSE"),
            (try Self.blackboard(extendedKeyUsage: nil), "serverAuth"),
            (try Self.blackboard(extendedKeyUsage: [.clientAuth]), "serverAuth"),
            (try Self.blackboard(keyUsage: nil), "digitalSignature"),
            (try Self.blackboard(keyUsage: KeyUsage(keyAgreement: true)), "digitalSignature"),
            // In this order: BasicConstraints first, then ExtendedKeyUsage, then KeyUsage.
            (try Self.blackboard(basicConstraints: nil, keyUsage: nil, extendedKeyUsage: nil), "CA:FALSE"),
            (try Self.blackboard(keyUsage: nil, extendedKeyUsage: nil), "serverAuth"),
        ]
        for (pem, words) in refused {
            let failure = await Self.failure(pem)
            #expect(failure?.check == .serverAuth, "\(String(describing: failure))")
            #expect(failure?.reason.contains(words) == true, "\(String(describing: failure))")
        }
    }
}
