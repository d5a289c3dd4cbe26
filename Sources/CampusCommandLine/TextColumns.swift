extension String {
    /// The text followed by spaces up to `width` characters (longer text is left as it is), for table columns.
    public func padded(to width: Int) -> String {
        padding(toLength: Swift.max(width, count), withPad: " ", startingAt: 0)
    }
}
