/// The seed's request text, `SID:<id> requests to upload report !`: the Student writes it, Blackboard reads it.
public enum UploadRequestText {
    static let prefix = "SID:"
    static let suffix = " requests to upload report !"

    /// The request text for a student.
    public static func make(for studentID: StudentID) -> String {
        "\(prefix)\(studentID)\(suffix)"
    }

    /// The student ID in a request text.
    ///
    /// - Throws: ``CampusError`` with `malformed-request` unless the text is exactly the seed's form.
    public static func studentID(in text: String) throws(CampusError) -> StudentID {
        guard text.hasPrefix(prefix), text.hasSuffix(suffix),
            text.utf8.count == prefix.utf8.count + 10 + suffix.utf8.count,
            let studentID = StudentID(text.dropFirst(prefix.count).prefix(10))
        else {
            throw CampusError(
                .malformedRequest,
                "the request must read \"SID:<10 digits> requests to upload report !\"; got \"\(text.prefix(80))\""
            )
        }
        return studentID
    }
}
