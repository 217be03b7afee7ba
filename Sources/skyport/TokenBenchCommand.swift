import ArgumentParser
import Foundation
import Logging
import SkyportCore
import SkyportRemotes

/// `skyport bench tokens`: what validating one bearer token costs, in process: the issuer's keys are fetched by the
/// first call (timed on its own), then the same token is verified again and again, as every request of a signed-in
/// scientist is (signature, algorithm, claims).
struct TokenBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Time bearer-token validation against a trusted OpenID Connect issuer.")
    @Option(help: "The issuer, exactly as its tokens' iss gives it.") var issuer: String
    @Option(help: "The audience that means this Skyport.") var audience = "skyport"
    @Option(help: "A file holding the access token.") var tokenFile: String
    @Option(help: "Validations to time.") var count = 20_000

    func run() async throws {
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingWhitespace()
        let egress = Egress(policy: .loopback, resolver: SystemResolver())
        do {
            try await measure(token, egress: egress)
            await egress.shutdown()
        } catch {
            await egress.shutdown()
            throw error
        }
    }

    func measure(_ token: String, egress: Egress) async throws {
        let config = try IssuerConfiguration.parse(.object(["issuer": .string(issuer), "audiences": .array([.string(audience)])]), at: "--issuer")
        for cached in [false, true] {
            var timing = OIDCVerifier.Timing()
            if !cached { timing.cacheSize = 0 }
            let verifier = OIDCVerifier(issuers: [config], egress: egress, timing: timing, logger: Logger(label: "bench"))
            let clock = ContinuousClock()
            let t0 = clock.now
            let first = await verifier.identity(for: token, now: Date())
            let firstTime = t0.duration(to: clock.now)
            guard case .success(let identity) = first else { throw ValidationError("the token is refused: \(first)") }
            var refused = 0
            let now = Date()
            let t1 = clock.now
            for _ in 0..<count {
                if case .failure = await verifier.identity(for: token, now: now) { refused += 1 }
            }
            let each = t1.duration(to: clock.now) / count
            print(String(
                format: "%@: token of %d bytes for %@: first validation (discovery and keys fetched) %.2f ms; then %.1f µs each over %d (%d refused)",
                cached ? "verified tokens cached" : "every signature verified", token.utf8.count, identity.owner,
                Self.milliseconds(firstTime), Self.milliseconds(each) * 1_000, count, refused))
        }
    }

    static func milliseconds(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }
}
