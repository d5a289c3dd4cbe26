import Foundation

/// One measured figure, with the limit it is compared to.
struct Figure: Codable {
    var group: String
    var name: String
    var value: Double
    var unit: String
    /// The limit measured in the same run, in the same unit, when there is one.
    var limit: Double?
    /// value / limit.
    var ratio: Double?
    /// The target, as a ratio (or an absolute bound for figures without a limit).
    var target: String?
    /// A name that stays the same from run to run (the figure's name holds counts), for scripts that read the JSON:
    /// `issuing.rate`, `handshake.cpu`, `peer.go.cpu`, ... (docs/PERFORMANCE.md lists them).
    var key: String?

    init(
        _ group: String, _ name: String, _ value: Double, _ unit: String, limit: Double? = nil, target: String? = nil,
        key: String? = nil
    ) {
        self.group = group
        self.name = name
        self.value = value
        self.unit = unit
        self.limit = limit
        self.ratio = limit.map { $0 == 0 ? .nan : value / $0 }
        self.target = target
        self.key = key
    }
}

/// Latency statistics of a set of samples.
struct Samples: Sendable {
    private(set) var values: [Double] = []

    mutating func add(_ value: Double) { values.append(value) }

    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
    }
}

enum Report {
    static func table(_ figures: [Figure]) -> String {
        func format(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "—" }
            if value >= 100 { return String(format: "%.0f", value) }
            if value >= 1 { return String(format: "%.2f", value) }
            return String(format: "%.3f", value)
        }
        var lines = [
            "GROUP       FIGURE                                       VALUE        UNIT       LIMIT        RATIO   TARGET"
        ]
        for figure in figures {
            lines.append(
                figure.group.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + figure.name.padding(toLength: 45, withPad: " ", startingAt: 0)
                    + format(figure.value).padding(toLength: 13, withPad: " ", startingAt: 0)
                    + figure.unit.padding(toLength: 11, withPad: " ", startingAt: 0)
                    + format(figure.limit).padding(toLength: 13, withPad: " ", startingAt: 0)
                    + format(figure.ratio).padding(toLength: 8, withPad: " ", startingAt: 0)
                    + (figure.target ?? "")
            )
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ figures: [Figure], machine: [String: String]) throws -> String {
        struct Document: Codable {
            var machine: [String: String]
            var figures: [Figure]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(Document(machine: machine, figures: figures)), as: UTF8.self)
    }
}

/// Monotonic seconds.
func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
