import CampusPKI
import Foundation
import Logging
import X509

/// Makes the deadline manifests (docs/PROTOCOL.md section 9.4): when an assignment's deadline has passed, the on-time
/// manifest over the receipts counted on time; when it is closed, the on-time one if it has none yet (an assignment
/// without a deadline, or closed before it) and, for an assignment with a deadline, the late one. Each is signed with
/// Blackboard's key, timestamped by CUHK over its signature, and kept in the store.
///
/// It looks every ``checkInterval`` and at each deadline (plus ``settle``), and at start, so deadlines that passed
/// while Blackboard was down, and assignments closed with `blackboard assignment close`, are seen. An on-time
/// manifest first waits (at most ``waitLimit``) until no report that CUHK may have timestamped at or before the
/// deadline is still on its way to its commit. When CUHK cannot be reached it tries again at the next look; a
/// manifest timestamped more than ``SignedManifest/timestampWindow`` after the deadline is still made, and a verifier
/// reports it as late. With `--timestamps off`, none is made.
public final class DeadlineManifests: Sendable {
    /// How often assignments are looked at, by default.
    public static let defaultCheckInterval: Duration = .seconds(5)
    /// How long after a deadline the on-time manifest is made, by default: reports timestamped just before the
    /// deadline are committed meanwhile.
    public static let defaultSettle: Duration = .seconds(2)
    /// The longest wait for reports in flight.
    public static let waitLimit: Duration = .seconds(30)

    let store: any ReportStore
    let credentials: ServiceCredentialStore
    let roots: TrustedRootStore
    let authority: TimestampAuthorityClient
    let inFlight: ReportsInFlight
    let enabled: Bool
    public let checkInterval: Duration
    public let settle: Duration
    let logger: Logger
    let reporter: StepReporter

    public init(
        store: any ReportStore, credentials: ServiceCredentialStore, roots: TrustedRootStore,
        authority: TimestampAuthorityClient, inFlight: ReportsInFlight, enabled: Bool,
        checkInterval: Duration = DeadlineManifests.defaultCheckInterval,
        settle: Duration = DeadlineManifests.defaultSettle, logger: Logger, reporter: @escaping StepReporter
    ) {
        self.store = store
        self.credentials = credentials
        self.roots = roots
        self.authority = authority
        self.inFlight = inFlight
        self.enabled = enabled
        self.checkInterval = checkInterval
        self.settle = settle
        self.logger = logger
        self.reporter = reporter
    }

    /// Looks at once, then at every interval and deadline, until cancelled.
    public func run() async {
        guard enabled else { return }
        while !Task.isCancelled {
            let next = await makeDue()
            var wait = checkInterval
            if let next {
                let untilNext = Duration.milliseconds(Int64(max(0, next.timeIntervalSinceNow) * 1000))
                wait = min(wait, untilNext)
            }
            try? await Task.sleep(for: max(wait, .milliseconds(100)))
        }
    }

    /// Makes every manifest that is due at `now` and not kept yet.
    ///
    /// - Returns: The time of the next deadline (plus ``settle``) still to come, if any.
    @discardableResult
    public func makeDue(now: Date = Date()) async -> Date? {
        let assignments: [Assignment]
        let kept: [StoredManifest]
        do {
            assignments = try await store.assignments()
            kept = try await store.manifests(of: nil)
        } catch {
            logger.warning("deadline manifests: the store cannot be read", metadata: ["cause": "\(error)"])
            return nil
        }
        let settleSeconds = Double(settle.components.seconds) + Double(settle.components.attoseconds) / 1e18
        var next: Date?
        for assignment in assignments {
            let has = { (kind: ManifestDocument.Kind) in
                kept.contains { $0.assignment == assignment.name && $0.kind == kind }
            }
            var due: [ManifestDocument.Kind] = []
            let deadlinePassed = assignment.deadline.map { now >= $0.addingTimeInterval(settleSeconds) } ?? false
            if !has(.onTime), !assignment.isOpen || deadlinePassed { due.append(.onTime) }
            if !has(.late), !assignment.isOpen, assignment.deadline != nil { due.append(.late) }
            if assignment.isOpen, !has(.onTime), let deadline = assignment.deadline, !deadlinePassed {
                let at = deadline.addingTimeInterval(settleSeconds)
                next = min(next ?? at, at)
            }
            for kind in due {
                do {
                    try await make(kind, of: assignment)
                } catch {
                    logger.warning(
                        "deadline manifest not made yet; tried again later",
                        metadata: ["assignment": "\(assignment.name)", "kind": "\(kind.rawValue)", "cause": "\(error)"])
                }
            }
        }
        return next
    }

    /// Makes, signs, timestamps and keeps one manifest.
    ///
    /// - Returns: The manifest kept (an earlier one if another was kept meanwhile).
    @discardableResult
    public func make(_ kind: ManifestDocument.Kind, of assignment: Assignment) async throws -> StoredManifest {
        let settled = await inFlight.waitUntilSettled(
            assignment: assignment.name, onTimeFor: kind == .onTime ? assignment.deadline : nil, limit: Self.waitLimit)
        if !settled {
            logger.warning(
                "deadline manifest made while reports of its assignment are still in flight",
                metadata: ["assignment": "\(assignment.name)", "kind": "\(kind.rawValue)"])
        }
        let reports = try await store.reports(for: nil)
            .filter { $0.assignment == assignment.name && $0.isLate == (kind == .late) && !$0.receipt.isEmpty }
            .sorted { $0.id < $1.id }
        let (document, leaves) = try ManifestDocument.build(
            assignment: assignment.name, deadline: assignment.deadline, kind: kind,
            receipts: reports.map { (UInt64($0.id), $0.receipt) })
        let identity = try credentials.current()
        let root = try roots.currentRoot()
        let signed = try await SignedManifest.sign(
            document, certificate: identity.certificate, privateKey: identity.privateKey, timestamps: authority,
            root: root)
        let verified = try await SignedManifest.verify(
            signed, root: root, blackboardName: Self.name(of: identity.certificate))
        let bundle = try ManifestBundle(
            leaves: zip(reports, leaves).map { ManifestBundle.Leaf(report: UInt64($0.id), data: $1) },
            signedManifest: signed)
        let manifest = StoredManifest(
            assignment: assignment.name, kind: kind, bundle: bundle, timestampedAt: verified.timestamp.generationTime,
            recordedAt: Date())
        guard try await store.recordManifest(manifest) else {
            return try await store.manifests(of: assignment.name).first { $0.kind == kind } ?? manifest
        }
        let delay = verified.timestampedAfterDeadline.map { delay in
            delay >= 0
                ? ", \(SignedManifest.describe(delay)) after the deadline"
                : ", \(SignedManifest.describe(delay)) before the deadline"
        }
        reporter(
            .messages,
            "Deadline manifest of \(assignment.name) (\(kind.rawValue)): \(Count.of(leaves.count, "receipt")), root "
                + "\(String(document.rootHash.hexString.prefix(16)))…, signed and timestamped by CUHK at "
                + "\(verified.timestamp.generationTimeText)\(delay ?? "")")
        logger.info(
            "deadline manifest made",
            metadata: [
                "assignment": "\(assignment.name)", "kind": "\(kind.rawValue)", "size": "\(leaves.count)",
                "root": "\(document.rootHash.hexString)", "timestamped": "\(verified.timestamp.generationTimeText)",
            ])
        return manifest
    }

    /// The DNS name Blackboard's certificate carries (the first), which its own manifests are checked against.
    static func name(of certificate: Certificate) -> String {
        let names = (try? certificate.extensions.subjectAlternativeNames)?.compactMap { name -> String? in
            if case .dnsName(let dnsName) = name { dnsName } else { nil }
        }
        return names?.first ?? ""
    }
}
