#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How many connections a server can hold: each one is a file descriptor, and the process may only have so many.
///
/// A server raises its soft `RLIMIT_NOFILE` to the hard limit at start, then by default serves as many
/// connections as that allows, keeping ``reservedDescriptors(descriptorLimit:)`` for its files, database and logs, and never more
/// than its own cap. (Under the common soft limit of 1024, a fixed 4096 could never be reached: accepting would
/// fail first.)
public enum ConnectionLimit {
    /// Descriptors kept free for everything that is not a connection: a quarter of the limit, at most 128.
    public static func reservedDescriptors(descriptorLimit: Int) -> Int {
        min(128, descriptorLimit / 4)
    }
    /// The most connections a server serves by default, however high the descriptor limit.
    public static let defaultMaximumConnections = 4096
    /// Seconds that connections in flight may go on after a graceful shutdown begins (`--shutdown-grace`).
    public static let defaultShutdownGraceSeconds = 10

    /// Raises the soft descriptor limit to the hard limit.
    ///
    /// - Returns: The soft limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(resourceLimitFiles, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceLimitFiles, &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is the largest value: Int.max
    }

    /// The default number of connections for a server capped at `cap`, under a soft descriptor limit.
    public static func defaultConnections(descriptorLimit: Int, cap: Int = defaultMaximumConnections) -> Int {
        max(1, min(cap, descriptorLimit - reservedDescriptors(descriptorLimit: descriptorLimit)))
    }

    #if canImport(Glibc)
        private static let resourceLimitFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        private static let resourceLimitFiles = RLIMIT_NOFILE
    #endif
}
