import Logging
import NIOCore
import NIOHTTPTypes

/// Sits in front of the HTTP decoder of every CampusPKI HTTP connection and holds the client to ``HTTPLimits``.
///
/// - Between requests a connection may stay silent for ``HTTPLimits/idleTimeout``; then it is closed.
/// - From a request's first byte, its line and header fields must arrive within ``HTTPLimits/headerTimeout``
///   (else 408) and stay within the sizes (else 414 or 431, counted by ``HTTPRequestHeadScanner`` before the decoder
///   sees the bytes, so an oversized head never reaches the application); a body then gets as long again (else the
///   connection is closed).
/// - While the application answers, there is no read timer; but a response the client does not read for
///   ``HTTPLimits/idleTimeout`` (the socket stays unwritable) closes the connection.
///
/// Each refusal is answered with an ``HTTPRefusal`` and `Connection: close`. The guard learns where requests and
/// responses begin and end from its ``ExchangeObserver``, which sits after the decoder.
///
/// Requests pipelined behind an unanswered one pass the guard unscanned; NIO's decoder holds them to the same sizes
/// (see ``GuardedHTTP1Channel``).
final class HTTPConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// No request in progress: the idle timer runs.
        case waiting
        /// A request's head is arriving: the header timer runs from its first byte.
        case head(HTTPRequestHeadScanner)
        /// The head went to the application, its body is arriving: the header timer runs again.
        case body
        /// The application answers: no read timer.
        case responding
        /// Refused: input is dropped, the connection closes.
        case refusing
    }

    private let limits: HTTPLimits
    private let gate: HTTPConnectionGate
    private let logger: Logger
    private var phase: Phase
    /// A refusal to send as soon as the connection is active (a connection over the cap).
    private var refusalAtStart: HTTPRefusal?
    private var requestsUnanswered = 0
    private var readingBody = false
    private var timer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// - Parameter refusing: Answer this at once and close, instead of serving.
    init(limits: HTTPLimits, gate: HTTPConnectionGate, logger: Logger, refusing: HTTPRefusal? = nil) {
        self.limits = limits
        self.gate = gate
        self.logger = logger
        self.refusalAtStart = refusing
        self.phase = refusing == nil ? .waiting : .refusing
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .waiting:
            phase = .head(HTTPRequestHeadScanner(limits: limits))
            schedule(limits.headerTimeout, context: context)
            readHead(context: context, data: data)
        case .head:
            readHead(context: context, data: data)
        case .body, .responding:
            context.fireChannelRead(data)
        case .refusing:
            return
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
        if !context.channel.isWritable {
            // The client does not read what it asked for; it may not hold the connection that way for ever.
            let limit = limits.idleTimeout
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            stallTimer = context.eventLoop.scheduleTask(in: limit) {
                let (handler, context) = loopBound.value
                guard !context.channel.isWritable else { return }
                handler.logger.info(
                    "closed an HTTP connection whose client did not read its answer",
                    metadata: ["seconds": "\(HTTPRefusal.seconds(limit))"])
                handler.cancelTimers()
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .refusing = phase, let event = event as? ChannelEvent, event == .inputClosed {
            // The client has read the refusal and closed its side.
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func start(context: ChannelHandlerContext) {
        if let refusal = refusalAtStart {
            refusalAtStart = nil
            refuse(refusal, context: context)
        } else if case .waiting = phase {
            schedule(limits.idleTimeout, context: context)
        }
    }

    private func readHead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var scanner) = phase else { return }
        let outcome = scanner.scan(unwrapInboundIn(data).readableBytesView)
        switch outcome {
        case .incomplete, .complete:
            phase = .head(scanner)
            // On `.complete` the decoder turns the head into a request now, and the observer moves the phase on.
            context.fireChannelRead(data)
        case .requestLineTooLong:
            refuse(.requestLineTooLong(limit: limits.maximumRequestLineBytes), context: context)
        case .headersTooLarge:
            refuse(
                .headersTooLarge(limit: limits.maximumHeaderBytes, fields: limits.maximumHeaderFields),
                context: context)
        }
    }

    // MARK: What the observer after the decoder reports

    fileprivate func requestHeadDecoded() {
        guard let context else { return }
        if case .refusing = phase { return }
        requestsUnanswered += 1
        readingBody = true
        phase = .body
        schedule(limits.headerTimeout, context: context)
    }

    fileprivate func requestEndDecoded() {
        readingBody = false
        settle()
    }

    fileprivate func responseEnded() {
        requestsUnanswered = max(0, requestsUnanswered - 1)
        settle()
    }

    /// After a request or a response ends: back to reading a body, answering, or waiting for the next request.
    private func settle() {
        guard let context else { return }
        switch phase {
        case .waiting, .head, .refusing:
            return
        case .body, .responding:
            if readingBody {
                phase = .body
            } else if requestsUnanswered > 0 {
                phase = .responding
                timer?.cancel()
                timer = nil
            } else {
                phase = .waiting
                schedule(limits.idleTimeout, context: context)
            }
        }
    }

    // MARK: Timers and refusals

    private func schedule(_ limit: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: limit) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.timedOut(context: context)
        }
    }

    private func timedOut(context: ChannelHandlerContext) {
        switch phase {
        case .waiting:
            logger.debug("closed an idle HTTP connection")
            cancelTimers()
            context.close(promise: nil)
        case .head:
            refuse(.tooSlow(limits.headerTimeout), context: context)
        case .body:
            // The application holds the request: no answer of ours may cross its own.
            logger.info(
                "closed an HTTP connection whose request body did not arrive in time",
                metadata: ["seconds": "\(HTTPRefusal.seconds(limits.headerTimeout))"])
            cancelTimers()
            context.close(promise: nil)
        case .responding, .refusing:
            return
        }
    }

    private func cancelTimers() {
        timer?.cancel()
        timer = nil
        stallTimer?.cancel()
        stallTimer = nil
    }

    /// Sends `refusal`, stops reading requests, and closes: after the client has read it and closed, or after
    /// ``HTTPLimits/refusalLinger`` (closing at once while the client's unread bytes sit in the socket would reset
    /// the connection and could destroy the answer before the client reads it).
    private func refuse(_ refusal: HTTPRefusal, context: ChannelHandlerContext) {
        phase = .refusing
        cancelTimers()
        if refusal.status != .serviceUnavailable {
            logger.info(
                "refused an HTTP request",
                metadata: ["status": "\(refusal.status.code)", "reason": "\(refusal.reason)"]
            )
        }
        let lingers = gate.beginLingering()
        let channel = context.channel
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(refusal.bytes)).whenComplete { _ in
            let context = loopBound.value
            guard lingers else {
                context.close(promise: nil)
                return
            }
            context.close(mode: .output, promise: nil)
            let timer = context.eventLoop.scheduleTask(in: HTTPLimits.refusalLinger) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in timer.cancel() }
        }
        if lingers {
            let gate = gate
            channel.closeFuture.whenComplete { _ in gate.endLingering() }
        }
    }
}

extension HTTPConnectionGuard {
    /// Sits after the HTTP decoder and tells its ``HTTPConnectionGuard`` where requests and responses begin and end.
    final class ExchangeObserver: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let connectionGuard: HTTPConnectionGuard

        init(_ connectionGuard: HTTPConnectionGuard) {
            self.connectionGuard = connectionGuard
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: connectionGuard.requestHeadDecoded()
            case .body: break
            case .end: connectionGuard.requestEndDecoded()
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data) { connectionGuard.responseEnded() }
            context.write(data, promise: promise)
        }
    }
}
