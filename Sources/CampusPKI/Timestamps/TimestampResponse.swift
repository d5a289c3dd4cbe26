import SwiftASN1

/// A timestamp reply (RFC 3161 section 2.4.2 `TimeStampResp`): a status and, when granted, the token.
///
/// ```
/// TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }
/// ```
public struct TimestampResponse: Sendable, Hashable {
    /// The largest reply read: a token and its status.
    public static let maximumSize = TimestampToken.maximumSize + 2048

    public var status: PKIStatusInfo
    /// The token's DER, present exactly when the status is granted (or granted with modifications).
    public var token: [UInt8]?

    public init(status: PKIStatusInfo, token: [UInt8]?) {
        self.status = status
        self.token = token
    }

    /// A granted reply with `token`.
    public static func granted(_ token: TimestampToken) -> TimestampResponse {
        TimestampResponse(status: PKIStatusInfo(status: .granted), token: token.derEncoded)
    }

    /// A rejection.
    public static func rejection(_ failure: PKIStatusInfo.FailureInfo, _ reason: String) -> TimestampResponse {
        TimestampResponse(status: .rejection(failure, reason), token: nil)
    }

    /// Reads a DER reply.
    ///
    /// - Throws: ``TimestampError/malformed(_:)`` when it is not a TimeStampResp, or a token is missing from a
    ///   granted reply or present in a refused one.
    public init(derEncoded bytes: [UInt8]) throws(TimestampError) {
        guard bytes.count <= Self.maximumSize else {
            throw .malformed("the reply has \(bytes.count) bytes, more than the \(Self.maximumSize) accepted")
        }
        do {
            let root = try DER.parse(bytes)
            self = try DER.sequence(root, identifier: .sequence) { nodes in
                guard let statusNode = nodes.next() else { throw TimestampError.malformed("the reply has no status") }
                let status = try PKIStatusInfo(derEncoded: statusNode)
                let token = nodes.next().map { Array($0.encodedBytes) }
                let granted = status.status == .granted || status.status == .grantedWithModifications
                guard granted == (token != nil) else {
                    throw TimestampError.malformed(
                        granted ? "the reply grants a timestamp but has no token" : "a refused reply carries a token")
                }
                return TimestampResponse(status: status, token: token)
            }
        } catch let error as TimestampError {
            throw error
        } catch {
            throw .malformed("the reply is not a DER TimeStampResp")
        }
    }

    /// The DER encoding.
    public func derEncoded() -> [UInt8] {
        var serializer = DER.Serializer()
        // The status holds checked values and the token is DER already: serializing cannot fail.
        try! serializer.appendConstructedNode(identifier: .sequence) { coder in
            try status.serialize(into: &coder)
            if let token { coder.serializeRawBytes(token) }
        }
        return serializer.serializedBytes
    }

    /// The token of a granted reply.
    ///
    /// - Throws: ``TimestampError/rejected(_:)`` for any other status, or the token's read error.
    public func grantedToken() throws(TimestampError) -> TimestampToken {
        guard status.status == .granted || status.status == .grantedWithModifications, let token else {
            throw .rejected(status)
        }
        return try TimestampToken(derEncoded: token)
    }
}
