import AsyncHTTPClient
import CampusPKI
import Foundation
import NIOCore
import X509

/// Asks CUHK's OCSP responder whether the certificate that signed a receipt was revoked (`student verify-receipt`).
///
/// A receipt is checked offline first (``SignedReceipt/verify(_:root:blackboardName:content:at:)``); this is the part
/// that needs CUHK. A stolen `blackboard.key` can sign receipts for as long as its certificate is valid, and `cuhk
/// service revoke` is how CUHK says so: the answer must be signed by the trusted root, name the certificate, and be
/// current. When CUHK cannot be asked, the outcome says why, and the receipt is neither accepted nor refused on it.
public enum ReceiptSignerRevocation {
    /// What CUHK said, or why it could not be asked.
    public enum Outcome: Sendable, Equatable {
        /// Not revoked, in an answer signed by the root at `thisUpdate`.
        case good(responder: String, thisUpdate: Date)
        /// Revoked at `time`, with the reason's name when the answer gives one.
        case revoked(responder: String, time: Date, reason: String?)
        /// CUHK's signed answer: it never issued this certificate.
        case unknown(responder: String)
        /// No answer that counts: the reason, in words.
        case notChecked(String)
    }

    /// The longest wait for the responder.
    public static let defaultTimeout: TimeAmount = .seconds(5)
    /// The largest answer read.
    static let maximumResponseSize = 64 * 1024

    /// The responder URL from `--ca`: a URL as it is, or `HOST:PORT` of CUHK's HTTP port as `http://HOST:PORT/`.
    public static func responderURL(fromArgument text: String) -> String? {
        if text.hasPrefix("http://") || text.hasPrefix("https://") { return URL(string: text) == nil ? nil : text }
        guard let address = ServerAddress(text) else { return nil }
        return "http://\(address)/"
    }

    /// Asks the responder about `signer`.
    ///
    /// - Parameters:
    ///   - signer: Blackboard's certificate, from a receipt that verified.
    ///   - root: The trusted CUHK root, which issued it and signs the answers.
    ///   - responder: The responder to ask instead of the one in the certificate (`--ca`).
    ///   - now: The time the answer must be current at.
    public static func check(
        signer: Certificate, root: Certificate, responder: String? = nil, timeout: TimeAmount = defaultTimeout,
        now: Date = Date()
    ) async -> Outcome {
        guard let url = responder ?? signer.ocspResponderURLs.first else {
            return .notChecked(
                "Blackboard's certificate names no OCSP responder (it was issued before CUHK wrote one into service "
                    + "certificates); give CUHK's HTTP address with --ca HOST:PORT")
        }
        let id: OCSPCertificateID
        do {
            id = try OCSPCertificateID(certificate: signer, issuer: root)
        } catch {
            return .notChecked("the certificate cannot be named in an OCSP request")
        }
        let bytes: [UInt8]
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/ocsp-request")
            request.body = .bytes(ByteBuffer(bytes: OCSPRequestMessage(certificateIDs: [id]).derEncoded()))
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            guard response.status == .ok else {
                return .notChecked("CUHK's OCSP responder at \(url) answered HTTP \(response.status.code)")
            }
            bytes = Array(buffer: try await response.body.collect(upTo: maximumResponseSize))
        } catch {
            return .notChecked("CUHK's OCSP responder at \(url) could not be reached (\(describe(error, timeout)))")
        }
        guard let answer = try? OCSPResponseMessage(derEncoded: bytes) else {
            return .notChecked("the answer from \(url) is not an OCSP response")
        }
        guard answer.status == .successful else {
            return .notChecked("CUHK's OCSP responder at \(url) gave no status (\(answer.status))")
        }
        guard answer.isSigned(by: root) else {
            return .notChecked("the answer from \(url) is not signed by the trusted CUHK root")
        }
        guard let single = answer.responses.first(where: { $0.certificateID.derEncoded == id.derEncoded }) else {
            return .notChecked("the answer from \(url) is not about this certificate")
        }
        let skew = SignedReceipt.clockSkewAllowance
        guard single.thisUpdate <= now.addingTimeInterval(skew),
            (single.nextUpdate ?? .distantFuture) >= now.addingTimeInterval(-skew)
        else {
            return .notChecked("the answer from \(url) is not current")
        }
        switch single.status {
        case .good: return .good(responder: url, thisUpdate: single.thisUpdate)
        case .revoked(let time, let code):
            return .revoked(responder: url, time: time, reason: code.flatMap { reasonNames[$0] })
        case .unknown: return .unknown(responder: url)
        }
    }

    /// A few words for a failed request.
    static func describe(_ error: any Error, _ timeout: TimeAmount) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .connectTimeout, .readTimeout, .writeTimeout:
                return "no answer within \(timeout.nanoseconds / 1_000_000_000) s"
            case .remoteConnectionClosed: return "it closed the connection"
            default: return "the request failed"
            }
        }
        return NetworkFailure.describe(error)
    }

    /// RFC 5280's `CRLReason` names of the codes CUHK uses.
    static let reasonNames = [
        0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation",
    ]
}
