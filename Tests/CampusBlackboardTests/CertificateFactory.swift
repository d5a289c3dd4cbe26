import CampusPKI
import Foundation
import X509
import _CryptoExtras

/// Builds good and deliberately bad certificates for verification tests.
struct CertificateFactory {
    static let studentKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let rootKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let otherRootKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    static let rootName = try! DistinguishedName {
        CountryName("HK")
        OrganizationName("CUHK")
        CommonName("CUHK Root CA")
    }

    static func root(key: _RSA.Signing.PrivateKey = rootKey, name: DistinguishedName = rootName) throws -> Certificate {
        let privateKey = Certificate.PrivateKey(key)
        return try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: privateKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-86_400),
            notValidAfter: Date().addingTimeInterval(3650 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: privateKey
        )
    }

    static func student(
        cn: String = "1155123456",
        notBefore: Date = Date().addingTimeInterval(-300),
        notAfter: Date = Date().addingTimeInterval(365 * 86_400),
        issuerKey: _RSA.Signing.PrivateKey = rootKey,
        isCA: Bool = false,
        basicConstraints: Bool = true,
        subjectAlternativeNames: [GeneralName] = [],
        keyUsage: KeyUsage = KeyUsage(digitalSignature: true, keyEncipherment: true),
        extendedKeyUsage: [ExtendedKeyUsage.Usage] = [.clientAuth]
    ) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: Certificate.PublicKey(studentKey.publicKey),
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: rootName,
            subject: try DistinguishedName {
                OrganizationName("CUHK")
                CommonName(cn)
            },
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                if basicConstraints {
                    Critical(
                        isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority)
                }
                Critical(keyUsage)
                try ExtendedKeyUsage(extendedKeyUsage)
                if !subjectAlternativeNames.isEmpty {
                    SubjectAlternativeNames(subjectAlternativeNames)
                }
            },
            issuerPrivateKey: Certificate.PrivateKey(issuerKey)
        )
    }
}

extension Certificate {
    var pem: String { try! serializeAsPEM().pemString }
}
