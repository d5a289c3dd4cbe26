// Fuzzes CUHK's intake of a certificate signing request (step 2), from the PEM text a student sends to the
// certificate recorded in the registry.
//
// The input goes in as PEM text and, wrapped into a CERTIFICATE REQUEST block, as DER for the ASN.1 parser.
// Every refusal must be a CampusError.
import CampusAuthority
import CampusPKI
import Dispatch
import FuzzSupport
import Synchronization

/// One root for the whole run: making an RSA key per input would be all the fuzzer does.
let root: RootAuthority = {
    do {
        return try RootAuthority.make()
    } catch {
        fatalError("cannot make the root: \(error)")
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    // Made before the first input, so that libFuzzer's leak check does not count the root's one-time allocations
    // against whichever input happens to come first.
    _ = root
    return 0
}

/// Where the asynchronous `issue` leaves its outcome for the fuzzer's thread.
final class Outcome: Sendable {
    let error = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
}

/// Runs `issue` to completion on the fuzzer's thread; returns what it threw, if anything.
func issue(csrPEM: String) -> (any Error)? {
    let outcome = Outcome()
    Task {
        // A fresh registry per input, so that certificates issued for valid inputs do not pile up.
        let authority = CertificateAuthority(root: root, registry: InMemoryAuthorityStore())
        do {
            _ = try await authority.issue(csrPEM: csrPEM)
        } catch {
            outcome.error.withLock { $0 = error }
        }
        outcome.done.signal()
    }
    outcome.done.wait()
    return outcome.error.withLock { $0 }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    for pem in [FuzzInput.text(bytes), FuzzInput.pem(bytes, label: "CERTIFICATE REQUEST")] {
        if let error = issue(csrPEM: pem), !(error is CampusError) {
            FuzzInput.unexpected(error, in: "CertificateAuthority.issue(csrPEM:)")
        }
    }
    return 0
}
