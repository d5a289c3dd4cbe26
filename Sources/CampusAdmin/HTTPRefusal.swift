import CampusPKI
import Hummingbird
import NIOCore

/// An answer an HTTP port sends on its own, before any request reaches the application, and then closes the
/// connection: a request line or header block over the limits, a request that did not arrive in time, a connection
/// over the cap.
public struct HTTPRefusal: Sendable, Equatable {
    /// The status: 414, 431, 408 or 503.
    public var status: HTTPResponse.Status
    /// One plain sentence, the body.
    public var reason: String

    /// The request line is longer than `limit` bytes.
    public static func requestLineTooLong(limit: Int) -> Self {
        .init(status: .uriTooLong, reason: "the request line is longer than \(limit) bytes")
    }

    /// The header fields take more than `limit` bytes, or are more than `fields`.
    public static func headersTooLarge(limit: Int, fields: Int) -> Self {
        .init(
            status: .requestHeaderFieldsTooLarge,
            reason: "the request's header fields take more than \(limit) bytes or are more than \(fields)")
    }

    /// The request's line and header fields did not arrive within `timeout`.
    public static func tooSlow(_ timeout: TimeAmount) -> Self {
        .init(
            status: .requestTimeout,
            reason: "the request's line and header fields did not arrive within \(Self.seconds(timeout)) s")
    }

    /// The port serves `limit` connections already.
    public static func busy(limit: Int) -> Self {
        .init(
            status: .serviceUnavailable,
            reason: "the server is at its limit of \(limit) connections on this port; try again")
    }

    /// The port serves `limit` connections from `address` already.
    public static func busy(limit: Int, from address: SourceAddress) -> Self {
        .init(
            status: .serviceUnavailable,
            reason: "the server is at its limit of \(limit) connections from \(address) on this port; try again when "
                + "one has closed")
    }

    /// The whole HTTP/1.1 response, with `Connection: close`.
    public var bytes: ByteBuffer {
        let body = reason + "\n"
        var text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        text += "Content-Type: text/plain; charset=utf-8\r\n"
        text += "Content-Length: \(body.utf8.count)\r\n"
        text += "Connection: close\r\n"
        if status == .serviceUnavailable { text += "Retry-After: 1\r\n" }
        text += "\r\n" + body
        return ByteBuffer(string: text)
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let seconds = Double(amount.nanoseconds) / 1e9
        return seconds == seconds.rounded() ? String(Int64(seconds)) : String(seconds)
    }
}
