import X509

extension Certificate {
    /// The OCSP responder URLs in the certificate's Authority Information Access extension, in order; empty when it
    /// names none or the extension cannot be read.
    public var ocspResponderURLs: [String] {
        guard let access = try? extensions.authorityInformationAccess else { return [] }
        return access.compactMap { description in
            guard description.method == .ocspServer, case .uniformResourceIdentifier(let url) = description.location
            else { return nil }
            return url
        }
    }
}
