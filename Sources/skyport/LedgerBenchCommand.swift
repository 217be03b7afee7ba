import ArgumentParser
import Foundation
import SkyportCore

/// `skyport bench ledger`: what booking one offer in the capacity ledger costs as the holds pile up, on average and
/// at worst. The worst is what a structure that stops to grow (a dictionary doubling its table) shows, and what an
/// offer request waits for in the store's write while it does.
struct LedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Time booking offers in the capacity ledger as the holds grow.")
    @Option(help: "Holds to book.") var holds = 1_000_000
    @Option(help: "Facilities they are spread over.") var facilities = 100

    func validate() throws {
        guard holds > 0, facilities > 0 else { throw ValidationError("--holds and --facilities must be at least 1") }
    }

    func run() async throws {
        let ids = (0..<facilities).map { FacilityID("ivo://bench.example/f\($0)") }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ContinuousClock()
        var ledger = CapacityLedger()
        var worst = Duration.zero, total = Duration.zero, stepWorst = Duration.zero
        var step = 1 << 14
        for i in 0..<holds {
            let booking = Booking(facility: ids[i % facilities], cores: 1, memory: 1, start: now, end: now.addingTimeInterval(3600))
            let id = UUID.timeOrdered(at: now.addingTimeInterval(Double(i) / 1_000))
            let t0 = clock.now
            ledger.book(id, booking, expires: now.addingTimeInterval(86_400))
            let took = t0.duration(to: clock.now)
            total += took
            worst = max(worst, took)
            stepWorst = max(stepWorst, took)
            if i + 1 == step || i + 1 == holds {
                print(String(format: "%9d holds: slowest booking since the last line %.2f ms", i + 1, TokenBench.milliseconds(stepWorst)))
                stepWorst = .zero
                step *= 2
            }
        }
        print(String(format: "%d holds over %d facilities: booking %.2f µs on average, slowest %.2f ms",
                     holds, facilities, TokenBench.milliseconds(total / holds) * 1_000, TokenBench.milliseconds(worst)))
    }
}
