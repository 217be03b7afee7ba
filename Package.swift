// swift-tools-version:6.1
import PackageDescription

// Skyport: a federating IVOA ExecutionBroker.
// Arrows point inward: every module depends on SkyportCore, SkyportCore depends on nothing but Foundation (and one
// data structure, swift-collections' TreeDictionary), and SkyportApp is the one composition root.

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// The web interface's templates, stylesheet and script, compiled into the binary (`PackageResources.<name>`).
let webResources: [Resource] = [
    "layout", "ask", "offerset", "session", "mine", "facilities", "facility", "edit", "signin", "error",
].map { .embedInCode("Web/Templates/\($0).mustache") } + [.embedInCode("Web/Static/skyport.css"), .embedInCode("Web/Static/skyport.js")]

let package = Package(
    name: "skyport",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "skyport", targets: ["skyport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/vapor/multipart-kit.git", exact: "4.7.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
        // TreeDictionary (a persistent hash trie): the capacity ledger grows without stopping to rehash.
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        // Only the OTLP/HTTP exporter: the gRPC one would bring grpc-swift and its transports into every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Pure domain: models, validation, matching, negotiation, lifecycle rules, store ports. No I/O.
        .target(name: "SkyportCore", dependencies: [.product(name: "HashTreeCollections", package: "swift-collections")], resources: [.embedInCode("Binder/staging-postBuild.py")], swiftSettings: swiftSettings),
        // Synthetic facilities and requests, the matching benchmark over them, and the open-loop HTTP load driver
        // (`skyport bench`, tests).
        .target(
            name: "SkyportBench",
            dependencies: [
                "SkyportCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // Persistence: SQLite (GRDB, system libsqlite3, WAL), PostgreSQL (postgres-nio; the store replicas share) and
        // in-memory stores.
        .target(
            name: "SkyportStore",
            dependencies: [
                "SkyportCore", "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The use cases: negotiation (local and federated), phase changes, the UWS job lifecycle, facility
        // registration and refresh, registry apply. Between Core and the edges; throws domain errors.
        .target(
            name: "SkyportBroker",
            dependencies: [
                "SkyportCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // zlib from the system (zlib1g-dev): the SQLite store keeps offer-set documents deflated.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libxml2 from the system (libxml2-dev): XML is read with network access and external entities disabled.
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // XML read with libxml2 and written by hand: the one home of UWS documents (reader and writer).
        .target(name: "SkyportXML", dependencies: ["SkyportCore", "CLibXML2"], swiftSettings: swiftSettings),
        // Remote clients for facilities (UWS, BinderHub, other brokers, registries).
        .target(
            name: "SkyportRemotes",
            dependencies: [
                "SkyportCore", "SkyportXML",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP edge: routes, content negotiation (JSON/YAML), auth, errors, metrics.
        .target(
            name: "SkyportHTTP",
            dependencies: [
                "SkyportCore", "SkyportBroker", "SkyportXML",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ],
            resources: [.embedInCode("openapi.yaml")] + webResources,
            swiftSettings: swiftSettings
        ),
        // Background services (offer expiry, forwarding, tracking).
        .target(
            name: "SkyportServices",
            dependencies: [
                "SkyportCore", "SkyportBroker",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The composition root: configuration, stores, services and the HTTP application wired together.
        .target(
            name: "SkyportApp",
            dependencies: [
                "SkyportCore", "SkyportBroker", "SkyportStore", "SkyportRemotes", "SkyportHTTP", "SkyportServices",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "skyport",
            dependencies: [
                "SkyportApp", "SkyportCore", "SkyportBroker", "SkyportServices", "SkyportRemotes", "SkyportBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings,
            // Release builds link with lld and pack their relative relocations (DT_RELR, glibc 2.36+): the loader
            // then reads under 50 KiB of relocations instead of megabytes at every start. They export no dynamic
            // symbols (the driver asks for `-export-dynamic`; the last flag wins): nothing looks the broker's symbols
            // up at run time, and every symbol the shared libraries resolve searched the executable's 77,000 first,
            // 4 MiB of the idle RSS (see README, Footprint).
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
                    .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        // Test-only: the builders the test targets share and an in-process stub HTTP server (no product uses it).
        .target(
            name: "SkyportTestSupport",
            dependencies: [
                "SkyportCore", "SkyportRemotes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/SkyportTestSupport"
        ),
        .testTarget(name: "SkyportCoreTests", dependencies: ["SkyportCore", "SkyportBench", "SkyportTestSupport"]),
        .testTarget(name: "SkyportStoreTests", dependencies: ["SkyportCore", "SkyportStore", "SkyportTestSupport"]),
        .testTarget(
            name: "SkyportRemotesTests",
            dependencies: [
                "SkyportCore", "SkyportXML", "SkyportRemotes", "SkyportTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .testTarget(
            name: "SkyportServicesTests", dependencies: ["SkyportCore", "SkyportBroker", "SkyportStore", "SkyportServices", "SkyportTestSupport"]),
        .testTarget(
            name: "SkyportHTTPTests",
            dependencies: [
                "SkyportApp", "SkyportHTTP", "SkyportBroker", "SkyportCore", "SkyportStore", "SkyportRemotes", "SkyportXML", "SkyportTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)

// libFuzzer harnesses, one per parser that reads outside input (`scripts/fuzz.sh`). Declared only when
// SKYPORT_FUZZ is set, so that `swift build` and `swift test` never build them; they are built with
// `-sanitize=fuzzer,address` into `.build-fuzz`.
if Context.environment["SKYPORT_FUZZ"] != nil {
    let harnesses: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzJSON", ["SkyportCore"]),
        ("FuzzYAML", ["SkyportCore", "SkyportBroker"]),
        ("FuzzCodemeta", ["SkyportCore"]),
        ("FuzzBasket", ["SkyportCore"]),
        ("FuzzRequest", ["SkyportCore", "SkyportBroker"]),
        ("FuzzISO8601", ["SkyportCore"]),
        ("FuzzUWSXML", ["SkyportCore", "SkyportXML"]),
        ("FuzzVOResource", ["SkyportCore", "SkyportRemotes"]),
        ("FuzzVOSI", ["SkyportCore", "SkyportRemotes"]),
        ("FuzzBinderEvents", ["SkyportCore"]),
    ]
    // libFuzzer's driver, called from each harness's main (SwiftPM makes the module's main the program's `main`).
    package.targets.append(.systemLibrary(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Fuzz/FuzzSupport"))
    for harness in harnesses {
        package.targets.append(.executableTarget(name: harness.name, dependencies: ["FuzzSupport"] + harness.dependencies,
                                                 path: "Fuzz/\(harness.name)"))
    }
}
