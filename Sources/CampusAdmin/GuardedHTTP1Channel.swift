import CampusPKI
import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 channel with CampusPKI's limits in front: an ``HTTPConnectionGuard`` before the decoder,
/// NIO's decoder limited to the same sizes, and ``HTTPConnectionGate``'s caps on the connections served, in all and
/// from one address.
///
/// A connection over a cap is answered `503 Service Unavailable` and closed without reaching Hummingbird.
public struct GuardedHTTP1Channel: ServerChildChannel {
    /// One accepted connection: served over HTTP, or refused.
    public enum Value: ServerChildChannelValue {
        case served(HTTP1Channel.Value)
        case refused(any Channel)

        public var channel: any Channel {
            switch self {
            case .served(let value): value.channel
            case .refused(let channel): channel
            }
        }
    }

    let http: HTTP1Channel
    let limits: HTTPLimits
    let gate: HTTPConnectionGate

    public init(
        responder: @escaping HTTPChannelHandler.Responder, limits: HTTPLimits, gate: HTTPConnectionGate
    ) {
        self.limits = limits
        self.gate = gate
        http = HTTP1Channel(responder: responder, configuration: Self.configuration(limits: limits, observer: nil))
    }

    /// Hummingbird's configuration: no idle timer of its own (the guard keeps time), the decoder held to `limits`.
    static func configuration(limits: HTTPLimits, observer: NIOLoopBound<HTTPConnectionGuard.ExchangeObserver>?)
        -> HTTP1Channel.Configuration
    {
        // The URL counts towards NIO's field size and total, so both sizes together bound the whole head.
        .init(
            additionalChannelHandlers: observer.map { [$0.value] } ?? [],
            idleTimeout: nil,
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: max(limits.maximumRequestLineBytes, limits.maximumHeaderBytes),
                maxHeaderListSize: limits.maximumRequestLineBytes + limits.maximumHeaderBytes,
                maxHeaderFieldCount: limits.maximumHeaderFields))
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limits = limits
        let gate = gate
        let source: SourceAddress?
        switch gate.admit(from: channel.remoteAddress) {
        case .admitted(let admitted):
            source = admitted
        case .atLimit:
            return refuse(channel, .busy(limit: gate.maximumConnections), logger: logger)
        case .addressAtLimit(let address):
            return refuse(channel, .busy(limit: gate.maximumPerAddress, from: address), logger: logger)
        }
        channel.closeFuture.whenComplete { _ in gate.release(source) }
        let responder = http.responder
        return channel.eventLoop.makeCompletedFuture {
            let connectionGuard = HTTPConnectionGuard(limits: limits, gate: gate, logger: logger)
            try channel.pipeline.syncOperations.addHandler(connectionGuard, position: .first)
            return NIOLoopBound(HTTPConnectionGuard.ExchangeObserver(connectionGuard), eventLoop: channel.eventLoop)
        }.flatMap { observer in
            HTTP1Channel(responder: responder, configuration: Self.configuration(limits: limits, observer: observer))
                .setup(channel: channel, logger: logger)
        }.map { .served($0) }
    }

    /// Answers `refusal` on `channel` and closes it, without Hummingbird.
    private func refuse(_ channel: any Channel, _ refusal: HTTPRefusal, logger: Logger) -> EventLoopFuture<Value> {
        let (limits, gate) = (limits, gate)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectionGuard(limits: limits, gate: gate, logger: logger, refusing: refusal))
            return .refused(channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        switch value {
        case .served(let served):
            await http.handle(value: served, logger: logger)
        case .refused(let channel):
            try? await channel.closeFuture.get()
        }
    }
}
