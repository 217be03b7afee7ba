import ArgumentParser
import Foundation
import Logging
import SkyportApp
import SkyportCore
import SkyportBroker

/// The `skyport` command: the broker and its operator tools.
@main
struct Skyport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skyport",
        abstract: "Skyport: a federating IVOA ExecutionBroker.",
        version: SkyportRuntime.version,
        subcommands: [Serve.self, OperatorCommand.self, Migrate.self, DBCommand.self, MatchCommand.self, RegistryCommand.self, WatchCommand.self, BenchCommand.self],
        defaultSubcommand: Serve.self)
}

/// Flags shared by the commands that open the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite file, :memory:, or postgres://user@host:port/db (env SKYPORT_DB; default var/skyport.sqlite).")
    var db: String?

    func configuration() throws -> SkyportConfiguration {
        var c = try SkyportConfiguration.fromEnvironment()
        if let db { c.database = db }
        return c
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the broker (HTTP API and background services).")

    @OptionGroup var store: StoreOptions
    @Option(help: "Address to listen on (env SKYPORT_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on, 0 for any free port (env SKYPORT_PORT; default 8090).") var port: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env SKYPORT_LOG_LEVEL).") var logLevel: String?
    @Option(help: "Log format: text or json (env SKYPORT_LOG_FORMAT).") var logFormat: String?

    func run() async throws {
        var config = try store.configuration()
        if let host { config.host = host }
        if let port {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
            config.port = port
        }
        if let logLevel { config.logLevel = try SkyportConfiguration.level(logLevel, "--log-level") }
        if let logFormat { config.logFormat = try SkyportConfiguration.format(logFormat, "--log-format") }
        let level = config.logLevel
        let json = config.logFormat == "json"
        // With tracing on, every log line carries the trace and span it was written in.
        LoggingSystem.bootstrap({ label, provider in
            var handler: any LogHandler = json
                ? JSONLogHandler(label: label, metadataProvider: provider) : StreamLogHandler.standardError(label: label, metadataProvider: provider)
            handler.logLevel = level
            return handler
        }, metadataProvider: config.otlpEndpoint == nil ? nil : SkyportTracing.loggingMetadata)
        try await SkyportRuntime.serve(config, logger: Logger(label: "skyport"))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or migrate the database, then exit.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Rebuild a SQLite file made before incremental vacuum (VACUUM; the broker must be stopped) so that retention gives freed space back to the file system.")
    var vacuum = false

    func run() async throws {
        let config = try store.configuration()
        let s = try await SkyportRuntime.openStore(config)
        try await s.ping()
        if vacuum, try await SkyportRuntime.enableIncrementalVacuum(s) {
            print("rebuilt with incremental vacuum")
        }
        print("\(s.kind) store at \(SkyportRuntime.location(of: s, config)) is at the current schema")
        await s.close()
    }
}

/// `skyport db`: the database's schema, and moving an embedded broker's data into PostgreSQL.
struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Migrate the database, or copy a SQLite broker's data into PostgreSQL.", subcommands: [Migrate.self, Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every table of a SQLite broker (stopped) into an empty PostgreSQL database, in one transaction.")
        @Option(help: "The SQLite file (migrated to the current schema first).") var from: String
        @Option(help: "postgres://user[:password]@host[:port]/database[?schema=NAME] (migrated first; must hold no data).") var to: String

        func run() async throws {
            let counts = try await SkyportRuntime.copyStore(from: from, to: to)
            for (table, n) in counts.sorted(by: { $0.key < $1.key }) { print("\(table)\t\(n)") }
            print("copied \(counts.values.reduce(0, +)) rows from \(from)")
        }
    }
}

struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator", abstract: "Manage facility operators and their tokens.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an operator and print its new token (shown once).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The operator's name (letters, digits, '-', '.', '_', '@').") var name: String

        func run() async throws {
            let token = try await SkyportRuntime.with(try store.configuration()) { runtime in
                do {
                    return try await runtime.broker.operators.add(name)
                } catch BrokerError.badParameter(_, let problem) {
                    throw ValidationError(problem)
                } catch StoreError.duplicate {
                    throw ValidationError("an operator named '\(name)' already exists")
                }
            }
            print(token)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List operators (never their tokens).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let operators = try await SkyportRuntime.with(try store.configuration()) { try await $0.broker.operators.list() }
            for op in operators { print("\(op.name)\t\(Timestamp.format(op.created))") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an operator; its token stops working at once.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() async throws {
            let removed = try await SkyportRuntime.with(try store.configuration()) { try await $0.broker.operators.remove(name) }
            guard removed else { throw ValidationError("no operator named '\(name)'") }
            print("removed \(name)")
        }
    }
}
