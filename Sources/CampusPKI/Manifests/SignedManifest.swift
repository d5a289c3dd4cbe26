import Crypto
import Foundation
import SwiftASN1
import X509

/// A deadline manifest as Blackboard publishes it: the canonical ``ManifestDocument`` in a CMS SignedData (DER),
/// signed with Blackboard's service certificate key like a receipt, and carrying a CUHK timestamp over the signature.
///
/// The SignedData: eContentType `id-data` with the document attached; one signer named by issuer and serial number;
/// SHA-256; `ecdsa-with-SHA256`; signed attributes content-type, message-digest and signing-time (Blackboard's clock);
/// Blackboard's certificate in `certificates`; and one unsigned attribute, `id-aa-signatureTimeStampToken`
/// (1.2.840.113549.1.9.16.2.14), holding a CUHK timestamp token whose message imprint is the SHA-256 of the
/// SignerInfo's signature value (the OCTET STRING's contents), as RFC 3161 appendix A and CAdES-T describe. The token
/// proves that the signature, hence the tree head, existed at its `genTime`, by a clock Blackboard's operator does
/// not control.
///
/// OpenSSL checks the signature and chain (it ignores the token):
///
/// ```
/// openssl cms -verify -inform DER -in manifest.p7s -CAfile cuhk.cer -purpose any
/// ```
public enum SignedManifest {
    /// `id-aa-signatureTimeStampToken`.
    public static let timestampAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 16, 2, 14]
    /// The largest manifest read: a page of text, a certificate and a token.
    public static let maximumSize = 64 * 1024
    /// How long after its deadline an on-time manifest may be timestamped and still count: 5 minutes. Until CUHK
    /// timestamps it, Blackboard could still add or drop leaves; Blackboard makes it a few seconds after the deadline,
    /// once the reports timestamped at or before it are committed (docs/PROTOCOL.md section 9.4).
    public static let timestampWindow: TimeInterval = 5 * 60

    /// A manifest that passed every check of ``SignedManifest/verify(_:root:blackboardName:receipt:evidence:now:)``.
    public struct VerifiedManifest: Sendable, Hashable {
        public let document: ManifestDocument
        /// Blackboard's certificate that signed it.
        public let signer: Certificate
        /// When Blackboard says it signed (its own clock).
        public let signingTime: Date
        /// CUHK's timestamp over the signature.
        public let timestamp: VerifiedTimestamp
        /// The receipt's position in the tree, when a receipt was checked.
        public let receiptIndex: UInt64?

        /// How long after the deadline CUHK timestamped the manifest (negative: before); `nil` without a deadline.
        /// Until then Blackboard could still have changed the set of leaves.
        public var timestampedAfterDeadline: TimeInterval? {
            document.deadline.map { timestamp.generationTime.timeIntervalSince($0) }
        }
    }

    /// How a receipt's inclusion is shown.
    public enum InclusionEvidence: Sendable, Hashable {
        /// The receipt's audit path (RFC 9162 section 2.1.3).
        case proof(InclusionProof)
        /// Every leaf of the tree, in order: the root is recomputed from them.
        case leaves([[UInt8]])
    }

    /// Signs `document` and has it timestamped.
    ///
    /// - Parameters:
    ///   - document: The tree head.
    ///   - certificate: Blackboard's service certificate.
    ///   - privateKey: Its key.
    ///   - signingTime: Blackboard's time of signing.
    ///   - timestamps: CUHK's timestamp authority.
    ///   - root: CUHK's root, to check the token before it is kept.
    /// - Returns: The signed manifest's DER.
    /// - Throws: ``ManifestError/timestamp(_:)`` when the authority refuses or its token does not verify; the
    ///   provider's error when it cannot be reached.
    public static func sign(
        _ document: ManifestDocument, certificate: Certificate, privateKey: P256.Signing.PrivateKey,
        signingTime: Date = Date(), timestamps: some TimestampProvider, root: Certificate
    ) async throws -> [UInt8] {
        var message = try SignedDataMessage.sign(
            content: document.canonicalBytes, contentType: SignedDataMessage.dataType, signingTime: signingTime,
            certificate: certificate, privateKey: privateKey, includeCertificate: true)
        let request = TimestampRequest(
            messageImprint: MessageImprint(of: message.signature), nonce: TimestampRequest.randomNonce(),
            certificateRequested: true)
        let reply = try await timestamps.reply(to: request.derEncoded())
        let token: [UInt8]
        do {
            token = try await TimestampVerifier(root: root).verify(response: reply, for: request).token
        } catch {
            throw ManifestError.timestamp("\(error)")
        }
        message.unsignedAttributes = [.init(type: timestampAttribute, values: [token])]
        return try message.derEncoded()
    }

    /// Checks a manifest against CUHK's root, and optionally that a receipt is in it.
    ///
    /// The checks, in order: the bytes are a DER SignedData with a canonical manifest attached; the signature is
    /// ECDSA P-256 with SHA-256 over signed attributes that state `id-data`, the text's SHA-256 and a signing time;
    /// exactly one timestamp token is attached and verifies against `root` (``TimestampVerifier``, with
    /// `timestampValidation`) for the SHA-256 of the signature value; the signer is a Blackboard certificate for
    /// `blackboardName` that chains to `root` and was valid at the token's `genTime`; with `.leaves`, the leaves
    /// make the tree; with a receipt, its assignment, deadline and status are the manifest's and its leaf is in the
    /// tree.
    ///
    /// - Parameters:
    ///   - der: The manifest's bytes.
    ///   - root: CUHK's root (`cuhk.cer`).
    ///   - blackboardName: The service name Blackboard's certificate must carry.
    ///   - receipt: A signed receipt (DER) to find in the tree.
    ///   - evidence: The receipt's inclusion proof, or every leaf.
    ///   - timestampValidation: When the TSA certificate must be valid.
    ///   - window: For an on-time manifest of an assignment with a deadline, the longest time after the deadline
    ///     that its token may have been made at (``timestampWindow``); `nil` only reports the delay.
    ///   - now: The current time.
    /// - Returns: What the manifest states, and where the receipt is.
    /// - Throws: ``ManifestError`` naming the first check that failed.
    public static func verify(
        _ der: [UInt8], root: Certificate, blackboardName: String, receipt: [UInt8]? = nil,
        evidence: InclusionEvidence? = nil, timestampValidation: TimestampVerifier.ValidationTime = .current,
        window: TimeInterval? = nil, now: Date = Date()
    ) async throws(ManifestError) -> VerifiedManifest {
        let message: SignedDataMessage
        do {
            message = try SignedDataMessage(derEncoded: der, maximumSize: maximumSize, what: "manifest")
        } catch {
            throw .notCMS(error.reason)
        }
        guard message.contentType == SignedDataMessage.dataType, let content = message.content else {
            throw .notCMS("the signed data does not contain the manifest text")
        }
        let document = try ManifestDocument(parsing: content)
        guard let signer = message.signerCertificate() else {
            throw .untrustedSigner("the manifest does not carry its signer's certificate")
        }
        let signingTime: Date
        do {
            try message.checkSignature(by: signer, expectedContentType: SignedDataMessage.dataType)
            guard let time = try message.signingTime() else {
                throw ManifestError.badSignature("the signed attributes have no signing time")
            }
            signingTime = time
        } catch let error as ManifestError {
            throw error
        } catch let error as TimestampError {
            throw .badSignature(error.reason)
        } catch {
            throw .badSignature("the signature cannot be checked")
        }

        let tokenNode: ASN1Node
        do {
            guard let node = try message.unsignedValue(timestampAttribute, name: "signature-time-stamp-token") else {
                throw ManifestError.timestamp(
                    "the manifest carries no CUHK timestamp (id-aa-signatureTimeStampToken) over its signature")
            }
            tokenNode = node
        } catch let error as ManifestError {
            throw error
        } catch let error as TimestampError {
            throw .timestamp(error.reason)
        } catch {
            throw .timestamp("the timestamp attribute cannot be read")
        }
        let timestamp: VerifiedTimestamp
        do {
            timestamp = try await TimestampVerifier(root: root, validationTime: timestampValidation).verify(
                Array(tokenNode.encodedBytes), imprint: MessageImprint(of: message.signature), now: now)
        } catch {
            throw .timestamp("\(error)")
        }

        if let window, document.kind == .onTime, let deadline = document.deadline {
            let delay = timestamp.generationTime.timeIntervalSince(deadline)
            guard delay <= window else {
                throw .timestampedTooLate(
                    "CUHK timestamped it at \(timestamp.generationTimeText), \(Self.describe(delay)) after the deadline "
                        + "\(ReceiptTime.format(deadline)), later than the \(Self.describe(window)) allowed: until then "
                        + "Blackboard could still have added or left out receipts")
            }
        }

        // CAdES-T: the signature existed at genTime, so Blackboard's certificate must have been valid then.
        do {
            let pem = try signer.serializeAsPEM().text
            _ = try await BlackboardCertificateVerifier(root: root, expectedName: blackboardName).verify(
                certificatePEM: pem, at: timestamp.generationTime)
        } catch {
            throw .untrustedSigner("\(error)")
        }

        var receiptIndex: UInt64?
        if case .leaves(let leaves) = evidence {
            guard UInt64(leaves.count) == document.treeSize else {
                throw .leavesMismatch("\(leaves.count) leaves are given; the manifest's tree has \(document.treeSize)")
            }
            let computed = MerkleTree.rootHash(leaves: leaves)
            guard computed == document.rootHash else {
                throw .leavesMismatch(
                    "their root hash is \(computed.hexString), but the manifest's is \(document.rootHash.hexString) "
                        + "(a leaf is missing, extra, changed or out of order)")
            }
        }
        if let receipt {
            try checkReceiptFields(receipt, against: document)
            let leaf = ManifestDocument.leaf(ofReceipt: receipt)
            switch evidence {
            case .none:
                throw .missingEvidence("to find a receipt in the manifest, give its inclusion proof or every leaf")
            case .leaves(let leaves):
                guard let index = leaves.firstIndex(of: leaf) else {
                    throw .notIncluded("no leaf of the manifest is the receipt's (SHA-256 \(leaf.hexString))")
                }
                receiptIndex = UInt64(index)
            case .proof(let proof):
                guard proof.treeSize == document.treeSize else {
                    throw .notIncluded(
                        "the proof is for a tree of \(proof.treeSize) leaves; the manifest's has \(document.treeSize)")
                }
                guard proof.verify(leafHash: MerkleTree.leafHash(leaf), rootHash: document.rootHash) else {
                    throw .notIncluded(
                        "the inclusion proof does not lead from the receipt's leaf to the manifest's root hash")
                }
                receiptIndex = proof.leafIndex
            }
        } else if case .proof = evidence {
            throw .missingEvidence("an inclusion proof is checked for a receipt; give the receipt")
        }
        return VerifiedManifest(
            document: document, signer: signer, signingTime: signingTime, timestamp: timestamp,
            receiptIndex: receiptIndex)
    }

    /// The head a signed manifest carries, read without checking its signature or timestamp (for listings).
    ///
    /// - Throws: ``ManifestError`` when the bytes are not a signed manifest.
    public static func document(of der: [UInt8]) throws(ManifestError) -> ManifestDocument {
        let message: SignedDataMessage
        do {
            message = try SignedDataMessage(derEncoded: der, maximumSize: maximumSize, what: "manifest")
        } catch {
            throw .notCMS(error.reason)
        }
        guard message.contentType == SignedDataMessage.dataType, let content = message.content else {
            throw .notCMS("the signed data does not contain the manifest text")
        }
        return try ManifestDocument(parsing: content)
    }

    /// A duration in words: `90 s`, `5 min`, `2 h 3 min`.
    public static func describe(_ interval: TimeInterval) -> String {
        let seconds = Int(interval.magnitude.rounded(.down))
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds / 60) min \(seconds % 60) s" }
        return "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }

    /// The receipt's assignment, deadline and status must be the manifest's. Its signature is not checked here
    /// (``SignedReceipt/verify(_:root:blackboardName:content:)`` does that).
    static func checkReceiptFields(_ receipt: [UInt8], against document: ManifestDocument) throws(ManifestError) {
        let receiptDocument: ReceiptDocument
        do {
            receiptDocument = try ReceiptDocument(parsing: ReceiptProfile.read(receipt).content)
        } catch {
            throw .receiptMismatch("the receipt cannot be read: \(error)")
        }
        guard receiptDocument.assignment == document.assignment else {
            throw .receiptMismatch(
                "the receipt is for assignment \(receiptDocument.assignment), the manifest for \(document.assignment)")
        }
        guard receiptDocument.deadline == document.deadline else {
            throw .receiptMismatch("the receipt and the manifest name different deadlines")
        }
        let kind: ManifestDocument.Kind = receiptDocument.isLate ? .late : .onTime
        guard kind == document.kind else {
            throw .receiptMismatch(
                "the receipt says \(kind.rawValue), but the manifest lists \(document.kind.rawValue) reports")
        }
    }
}
