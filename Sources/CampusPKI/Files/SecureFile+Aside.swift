import Foundation

extension SecureFile {
    /// Moves files aside together under one new suffix, `<path>.<unix time>.old`, or `<path>.<unix time>-2.old`,
    /// `-3`, … when that is taken for any of them (two replacements in one second); missing files are skipped.
    ///
    /// - Returns: The suffix used, without `.old`.
    @discardableResult
    public static func moveAside(_ paths: [String], at time: Date = Date()) throws -> String {
        let stamp = Int(time.timeIntervalSince1970)
        var suffix = "\(stamp)"
        var attempt = 1
        while paths.contains(where: { exists("\($0).\(suffix).old") }) {
            attempt += 1
            suffix = "\(stamp)-\(attempt)"
        }
        for path in paths where exists(path) {
            try moveAside(path, to: "\(path).\(suffix).old")
        }
        return suffix
    }
}
