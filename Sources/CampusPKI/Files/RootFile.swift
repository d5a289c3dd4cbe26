import X509

/// The root certificate file, `cuhk.cer`, as Blackboard and the Student read it.
public enum RootFile {
    /// The file's name in the seed.
    public static let name = "cuhk.cer"

    /// The file exists but cannot be used.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var problem: String

        public var description: String { "\(path) \(problem)" }
    }

    /// Reads a PEM root certificate.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - required: Whether a missing file is an error (a root given by flag) or `nil` (a default place).
    /// - Returns: The certificate, or `nil` when the file does not exist and is not required.
    /// - Throws: ``LoadError`` saying what is wrong with the file and what to do.
    public static func load(_ path: String, required: Bool) throws -> Certificate? {
        let text: String?
        do {
            text = try SecureFile.readText(at: path)
        } catch {
            throw LoadError(path: path, problem: "cannot be read: \(error)")
        }
        guard let text else {
            if required {
                throw LoadError(
                    path: path,
                    problem: "does not exist (cuhk init or cuhk serve writes cuhk.cer in CUHK's directory; copy it "
                        + "from there)")
            }
            return nil
        }
        do {
            return try Certificate(pemEncoded: text)
        } catch {
            throw LoadError(
                path: path,
                problem: "is not a valid PEM certificate (it may be cut short, or another kind of file); "
                    + "copy cuhk.cer again from CUHK's directory")
        }
    }
}
