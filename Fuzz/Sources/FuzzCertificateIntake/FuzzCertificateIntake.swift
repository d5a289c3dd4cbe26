// Fuzzes what Blackboard reads from an upload request (step 3) before any signature is checked: the request
// text and cert 2.
//
// Cert 2's PEM in canonical form takes a fast path; where it does, the bytes must be swift-asn1's.
//
// The input goes in as PEM text and, wrapped into a CERTIFICATE block, as DER for the ASN.1 parser. A request
// text that is accepted must be exactly the one the Student writes for that ID.
import CampusPKI
import FuzzSupport
import SwiftASN1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let text = FuzzInput.text(bytes)

    // Its throws are typed: a refusal can only be a CampusError.
    if let studentID = try? UploadRequestText.studentID(in: text) {
        guard Array(UploadRequestText.make(for: studentID).utf8) == Array(text.utf8) else {
            fatalError("request text accepted for \(studentID) but not in the seed's form: \(text.debugDescription)")
        }
    }

    for pem in [text, FuzzInput.pem(bytes, label: "CERTIFICATE")] {
        // The fast path for PEM in canonical form gives exactly what swift-asn1's parser gives.
        if let fast = PEMDocument.derBytes(ofCanonical: pem, discriminator: "CERTIFICATE") {
            guard let document = try? PEMDocument(pemString: pem), document.discriminator == "CERTIFICATE",
                document.derBytes == fast
            else {
                fatalError("canonical PEM decoded to other bytes than swift-asn1's: \(pem.debugDescription)")
            }
        }
        do {
            _ = try StudentCertificateVerifier.parseCertificate(pem: pem)
        } catch is CampusError {
        } catch {
            FuzzInput.unexpected(error, in: "StudentCertificateVerifier.parseCertificate(pem:)")
        }
    }
    return 0
}
