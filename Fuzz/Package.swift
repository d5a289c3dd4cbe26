// swift-tools-version:6.1
// libFuzzer targets for everything CampusPKI parses from a peer. Build and run them with scripts/fuzz.sh;
// docs/FUZZING.md describes the targets and the last long run.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "CampusPKIFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "CampusPKI", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
    ],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "CampusPKI", package: "CampusPKI"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzFrameDecoder",
            dependencies: [
                "FuzzSupport",
                .product(name: "CampusPKI", package: "CampusPKI"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzWireMessage",
            dependencies: [
                "FuzzSupport",
                .product(name: "CampusPKI", package: "CampusPKI"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzCSRIntake",
            dependencies: [
                "FuzzSupport",
                .product(name: "CampusPKI", package: "CampusPKI"),
                .product(name: "CampusAuthority", package: "CampusPKI"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzCertificateIntake",
            dependencies: [
                "FuzzSupport",
                .product(name: "CampusPKI", package: "CampusPKI"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzTimestampIntake",
            dependencies: [
                "FuzzSupport",
                .product(name: "CampusPKI", package: "CampusPKI"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
