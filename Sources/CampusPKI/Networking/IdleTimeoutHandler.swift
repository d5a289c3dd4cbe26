import NIOCore

/// Fails the connection with a `timeout` error when no frame moves in either direction for a while.
///
/// It sits after the frame decoder, so only whole frames count as activity: a peer that trickles one byte at a
/// time, or stops inside a frame, still times out. The async side can change the allowance (Blackboard moves from
/// its handshake timeout to its idle timeout) with ``SetTimeout``.
public final class IdleTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// A user outbound event that replaces the allowance and restarts the clock.
    public struct SetTimeout: Sendable {
        public var timeout: TimeAmount
        public var phase: String
        public init(_ timeout: TimeAmount, phase: String) {
            self.timeout = timeout
            self.phase = phase
        }
    }

    /// A user outbound event that fails the connection now with `error`, as a timeout would: the reading task
    /// sees the error at its next read. The server uses it to end connections when it shuts down.
    public struct Fail: Sendable {
        public var error: CampusError
        public init(_ error: CampusError) {
            self.error = error
        }
    }

    private var timeout: TimeAmount
    private var phase: String
    /// The last frame in either direction. A frame only notes the time: the one scheduled check, when it comes,
    /// either fails the connection or schedules itself again for what is left of the allowance.
    private var lastActivity = NIODeadline.now()
    /// The one check scheduled, as a callback to this handler: no promise, future or closure per connection, which
    /// an idle session would keep for as long as it is open.
    private var scheduled: NIOScheduledCallback?
    /// Set while the handler is in a pipeline.
    private var context: ChannelHandlerContext?

    /// - Parameters:
    ///   - timeout: How long the connection may stay silent.
    ///   - phase: Named in the error, so the peer learns what it was expected to send.
    public init(timeout: TimeAmount, phase: String) {
        self.timeout = timeout
        self.phase = phase
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { restart(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        restart(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        context.write(data, promise: promise)
    }

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let change = event as? SetTimeout {
            timeout = change.timeout
            phase = change.phase
            restart(context: context)
            promise?.succeed()
        } else if let failure = event as? Fail {
            scheduled?.cancel()
            scheduled = nil
            context.fireErrorCaught(failure.error)
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    /// Starts the allowance again from now.
    private func restart(context: ChannelHandlerContext) {
        scheduled?.cancel()
        lastActivity = .now()
        schedule(context: context, at: lastActivity + timeout)
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline) {
        // Fails only when the event loop is shutting down, and the connection with it.
        scheduled = try? context.eventLoop.assumeIsolated().scheduleCallback(at: deadline, handler: self)
    }

    /// The scheduled check: fails the connection when nothing moved for the whole allowance, or waits for the rest.
    private func check(context: ChannelHandlerContext) {
        let due = lastActivity + timeout
        guard due <= .now() else {
            schedule(context: context, at: due)
            return
        }
        scheduled = nil
        let seconds = Double(timeout.nanoseconds) / 1e9
        context.fireErrorCaught(CampusError(.timeout, "nothing received for \(seconds) s while waiting for \(phase)"))
    }
}

extension IdleTimeoutHandler: NIOScheduledCallbackHandler {
    public func handleScheduledCallback(eventLoop: some EventLoop) {
        scheduled = nil
        guard let context else { return }
        check(context: context)
    }
}
