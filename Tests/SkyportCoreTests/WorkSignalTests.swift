import SkyportCore
import Testing

@Suite struct WorkSignalTests {
    /// The waits for a ring are an hour long: only the ring ends them within the time limit.
    @Test(.timeLimit(.minutes(1)))
    func aRingIsKeptForTheNextWaitAndWakesAWaiter() async throws {
        let signal = WorkSignal()
        signal.ring()
        await signal.wait(upTo: .seconds(3600))  // a ring with nobody waiting is kept

        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: .milliseconds(200))
        #expect(clock.now - start >= .milliseconds(150), "no ring: the wait runs out (a sleep never ends early)")

        // Whether the ring comes before the waiter registers (kept) or after (wakes it), the wait ends.
        async let waited: Void = signal.wait(upTo: .seconds(3600))
        signal.ring()
        await waited
    }

    @Test func manyRingsAndWaitsNeverHang() async {
        let signal = WorkSignal()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { await signal.wait(upTo: .milliseconds(300)) }
                group.addTask { signal.ring() }
            }
        }
    }
}
