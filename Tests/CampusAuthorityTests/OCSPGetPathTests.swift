import CampusPKI
import Foundation
import Testing

@testable import CampusAuthority

/// RFC 5019's GET: the request found in the path in linear time, behind a proxy's prefix too.
@Suite struct OCSPGetPathTests {
    /// DER requests about the root itself, with one to four `CertID`s: their base64 differ, and some hold a `/`.
    static let requests: [[UInt8]] = {
        let root = DashboardFixture.root.certificate
        let ids = OCSPCertificateID.HashAlgorithm.allCases.map {
            try! OCSPCertificateID(certificate: root, issuer: root, hashAlgorithm: $0)
        }
        return (1...ids.count).map { OCSPRequestMessage(certificateIDs: Array(ids.prefix($0))).derEncoded() }
    }()

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    @Test func theRequestIsFoundEscapedOrNotBehindAnyPrefix() throws {
        for request in Self.requests {
            let text = Self.base64(request)
            let escaped = try #require(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            for path in [
                "/" + text, "/" + escaped, "/ocsp/" + text, "/ocsp/v1/" + escaped, "/a-b/%zz/" + text, "//" + text,
            ] {
                #expect(OCSPHTTPServer.requestBytes(inPath: path) == request, "\(path)")
            }
        }
        // A `/` inside the base64 is not where the request starts.
        let slashed = try #require(Self.requests.first { Self.base64($0).contains("/") })
        #expect(OCSPHTTPServer.requestBytes(inPath: "/ocsp/" + Self.base64(slashed)) == slashed)
    }

    @Test func pathsWithoutARequestGetNone() {
        let request = Self.requests[0]
        let text = Self.base64(request)
        for path in [
            "/", "", "/M", "/%%%not-base64", "/" + text.dropLast(4), "/" + text + "AAAA", "/" + text + "-",
            "/" + String(text.dropFirst()),
        ] {
            #expect(OCSPHTTPServer.requestBytes(inPath: path) == nil, "\(path)")
        }
    }

    /// A path of segments, each beginning with base64 that announces a DER SEQUENCE exactly as long as the rest of
    /// the path: after every `/` there is a plausible request, the worst case for a parser that tries them all.
    static func craftedPath(limit: Int) -> String {
        var crafted = ""
        while true {
            var segment: String?
            for pad in 0..<4 {
                for headerCharacters in [4, 8] where segment == nil {
                    let rest = headerCharacters + pad + crafted.utf8.count
                    guard rest % 4 == 0 else { continue }
                    let length = rest / 4 * 3
                    let header: [UInt8] =
                        if length - 2 < 0x80 {
                            [0x30, UInt8(length - 2), 0]
                        } else if length - 3 < 0x100 {
                            [0x30, 0x81, UInt8(length - 3)]
                        } else {
                            [0x30, 0x82, UInt8((length - 4) >> 8), UInt8((length - 4) & 0xFF), 0, 0]
                        }
                    guard header.count / 3 * 4 == headerCharacters else { continue }
                    segment = Data(header).base64EncodedString() + String(repeating: "A", count: pad)
                }
            }
            guard let segment, crafted.utf8.count + segment.utf8.count + 1 <= limit else { return crafted }
            crafted = "/" + segment + crafted
        }
    }

    /// Paths built to make a suffix-by-suffix parser decode every suffix in full: each is read once now, and none
    /// holds a request. (How long they take is for the benchmark; README gives a measurement.)
    @Test func hostilePathsUpToTheLimitHoldNoRequest() {
        let limit = OCSPGetPath.maximumPathBytes
        let crafted = Self.craftedPath(limit: limit)
        #expect(crafted.utf8.count > limit - 16)
        // Hundreds of its candidates announce the rest of the path exactly (a few more `/` are inside the base64).
        let bytes = Array(crafted.utf8)
        let announcing = bytes.indices.dropFirst().filter { start in
            guard bytes[start - 1] == UInt8(ascii: "/") else { return false }
            let rest = bytes[start...]
            return OCSPGetPath.announcedLength(rest).map { 4 * (($0 + 2) / 3) } == rest.count
        }
        #expect(announcing.count > limit / 16)
        for path in [
            String(repeating: "/M", count: limit / 2), String(repeating: "/", count: limit),
            "/" + String(repeating: "MIIB", count: (limit - 1) / 4), crafted,
        ] {
            #expect(path.utf8.count <= limit)
            #expect(OCSPHTTPServer.requestBytes(inPath: path) == nil)
        }
        // Over the limit, nothing is looked at.
        let over = "/" + String(repeating: "A", count: limit) + "/" + Self.base64(Self.requests[0])
        #expect(OCSPHTTPServer.requestBytes(inPath: over) == nil)
    }
}
