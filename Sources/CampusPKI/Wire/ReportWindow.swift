/// How many report messages may travel ahead of their acknowledgements.
///
/// Blackboard keeps at most ``size`` verified messages of one session waiting for their commit, and fewer when they
/// are large: it stops reading the connection while that many wait, or while those waiting hold ``pendingBytes`` of
/// content. The Student sends up to ``size`` before it waits for an acknowledgement (`student run --window`), so that
/// one durable commit can cover that many messages: with fewer in flight, each commit covers fewer and costs more per
/// message.
public enum ReportWindow {
    /// Blackboard's limit of verified messages waiting for their commit in one session, and the Student's default
    /// window.
    public static let size = 128
    /// Blackboard stops reading a session's messages while those waiting for their commit hold this much content
    /// (4 MiB), so a session holds at most this and the one message its reading task has just verified.
    public static let pendingBytes = 4 * 1024 * 1024
}
