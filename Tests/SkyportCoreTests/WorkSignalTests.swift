import SkyportCore
import Testing

@Suite struct WorkSignalTests {
    @Test func aRingIsKeptForTheNextWaitAndWakesAWaiter() async throws {
        let signal = WorkSignal()
        let clock = ContinuousClock()
        signal.ring()
        var start = clock.now
        await signal.wait(upTo: .seconds(10))
        #expect(clock.now - start < .seconds(1), "a ring with nobody waiting is kept")

        start = clock.now
        await signal.wait(upTo: .milliseconds(200))
        #expect(clock.now - start >= .milliseconds(150), "no ring: the wait runs out")

        start = clock.now
        async let waited: Void = signal.wait(upTo: .seconds(10))
        try await Task.sleep(for: .milliseconds(50))
        signal.ring()
        await waited
        #expect(clock.now - start < .seconds(5), "a ring wakes the waiter")
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
