/// The Student's keep-alive: while it has no message to send for this long, it sends a keep-alive frame, so a
/// person typing a report may pause longer than Blackboard's idle timeout. Blackboard's `--idle-timeout` must be
/// longer than this.
public enum KeepAlive {
    /// Seconds between keep-alives while the Student has nothing to send.
    public static let intervalSeconds: Int64 = 15
}
