/// How many report messages may travel ahead of their acknowledgements.
///
/// Blackboard keeps at most ``size`` verified messages of one session waiting for their commit, and stops reading
/// the connection while that many wait. The Student sends up to the same number before it waits for an
/// acknowledgement (`student run --window`), so that one durable commit can cover that many messages: with fewer in
/// flight, each commit covers fewer and costs more per message.
public enum ReportWindow {
    /// Blackboard's limit of verified messages waiting for their commit in one session, and the Student's default
    /// window.
    public static let size = 32
}
