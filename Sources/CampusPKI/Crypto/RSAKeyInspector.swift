import Crypto
import SwiftASN1
import X509
import _CryptoExtras

/// Reads what swift-certificates refuses to parse: the size of an RSA key below 2048 bits.
///
/// `X509` rejects such keys while parsing a CSR or certificate, which would leave the peer with a vague
/// "malformed" answer. This looks inside the DER for the SubjectPublicKeyInfo so the answer can say
/// "key too small: 1024 bits".
public enum RSAKeyInspector {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 1]

    /// The RSA key size inside a PKCS#10 request's DER, or `nil` if it is not an RSA key or cannot be read.
    public static func keySize(inCSR der: [UInt8]) -> Int? {
        // CertificationRequest ::= SEQUENCE { info SEQUENCE { version, subject, spki, ... }, ... }
        guard let info = child(of: try? DER.parse(der), at: 0), let spki = child(of: info, at: 2) else { return nil }
        return keySize(inSubjectPublicKeyInfo: spki)
    }

    /// The RSA key size inside a certificate's DER, or `nil` if it is not an RSA key or cannot be read.
    public static func keySize(inCertificate der: [UInt8]) -> Int? {
        // Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version, serial, sigAlg, issuer, validity, subject, spki } }
        guard let tbs = child(of: try? DER.parse(der), at: 0), let spki = child(of: tbs, at: 6) else { return nil }
        return keySize(inSubjectPublicKeyInfo: spki)
    }

    /// The outer signature algorithm of a PKCS#10 request's DER, or `nil` if it cannot be read.
    ///
    /// swift-certificates refuses to parse a request signed with an algorithm it does not know (MD5, or ECDSA
    /// with SHA-1), which would make it "malformed"; reading the OID first lets the answer name the algorithm.
    public static func signatureAlgorithm(inCSR der: [UInt8]) -> ASN1ObjectIdentifier? {
        // CertificationRequest ::= SEQUENCE { info, signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
        guard let algorithm = child(of: try? DER.parse(der), at: 1), let oidNode = child(of: algorithm, at: 0) else {
            return nil
        }
        return try? ASN1ObjectIdentifier(derEncoded: oidNode)
    }

    static func keySize(inSubjectPublicKeyInfo spki: ASN1Node) -> Int? {
        guard let algorithm = child(of: spki, at: 0), let oidNode = child(of: algorithm, at: 0),
            let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode), oid == rsaEncryption,
            let keyNode = child(of: spki, at: 1), let bits = try? ASN1BitString(derEncoded: keyNode),
            let key = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: bits.bytes)
        else { return nil }
        return key.keySizeInBits
    }

    private static func child(of node: ASN1Node?, at index: Int) -> ASN1Node? {
        guard let node, case .constructed(let children) = node.content else { return nil }
        var iterator = children.makeIterator()
        for _ in 0..<index { _ = iterator.next() }
        return iterator.next()
    }
}
