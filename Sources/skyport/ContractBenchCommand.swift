import ArgumentParser
import Foundation
import SkyportBroker
import SkyportCore

/// `skyport bench contract`: what checking one request body against the spec's schema costs (done for every JSON or
/// YAML body before it is read), beside what reading the same body into a request costs.
struct ContractBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract", abstract: "Time the request-body schema check against reading the request.")
    @Option(help: "The OpenAPI document.") var spec = "specs/openapi.yaml"
    @Option(help: "A request body (JSON).") var body = "fixtures/requests/eb-every-field.json"
    @Option(help: "The operation's path in the spec.") var path = "/requests"
    @Option(help: "Checks to time.") var count = 20_000

    func run() async throws {
        let document = try YAMLBridge.parse(String(contentsOfFile: spec, encoding: .utf8))
        let check = SchemaCheck(document: document)
        let pointer = "#/paths/\(path.replacingOccurrences(of: "/", with: "~1"))/post/requestBody/content/application~1json/schema"
        guard let schema = check.schema(at: pointer).map(check.compile) else { throw ValidationError("no JSON body schema for POST \(path)") }
        let request = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: body)))
        let problems = check.problems(request, schema)
        let clock = ContinuousClock()
        var found = 0
        let t0 = clock.now
        for _ in 0..<count { found += check.problems(request, schema).count }
        let checking = t0.duration(to: clock.now) / count
        let t1 = clock.now
        for _ in 0..<count { _ = try? ExecutionRequestParser.parse(request, now: Date()) }
        let reading = t1.duration(to: clock.now) / count
        print(String(
            format: "%@ against POST %@: schema check %.1f µs, reading the request %.1f µs (each over %d; %d problems)",
            body, path, TokenBench.milliseconds(checking) * 1_000, TokenBench.milliseconds(reading) * 1_000, count, problems.count))
        _ = found
    }
}
