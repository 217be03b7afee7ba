import SkyportCore
import Testing

/// The offer requests' gate (`Admission`): a limit, a queue in order, and overload told from a burst.
@Suite struct AdmissionTests {
    static let settings = Admission.Settings(limit: 2, target: .milliseconds(50), interval: .milliseconds(200), maxWaiting: 3)

    static func ms(_ n: Int) -> Duration { .milliseconds(n) }

    @Test func upToTheLimitStartAtOnceAndTheRestStartInOrder() {
        var a = Admission(Self.settings)
        #expect(a.arrive(at: .zero) == .start)
        #expect(a.arrive(at: .zero) == .start)
        #expect(a.arrive(at: .zero) == .wait(1))
        #expect(a.arrive(at: .zero) == .wait(2))
        #expect(a.running == 2 && a.waitingCount == 2)
        #expect(a.finish(at: Self.ms(1)) == 1)
        #expect(a.finish(at: Self.ms(2)) == 2)
        #expect(a.running == 2 && a.waitingCount == 0)
        #expect(a.finish(at: Self.ms(3)) == nil)
        #expect(a.finish(at: Self.ms(3)) == nil)
        #expect(a.running == 0)
        // Nothing waits and a slot is free: the next starts at once.
        #expect(a.arrive(at: Self.ms(4)) == .start)
        #expect(a.refused == 0 && a.waited == 2)
    }

    @Test func aBurstWaitsAndIsServedWithoutRefusals() {
        var a = Admission(Self.settings)
        _ = (a.arrive(at: .zero), a.arrive(at: .zero))
        // A stall: three wait, one of them far past the target; the queue then drains before the interval is over.
        #expect(a.arrive(at: .zero) == .wait(1))
        #expect(a.arrive(at: .zero) == .wait(2))
        #expect(a.finish(at: Self.ms(300)) == 1)
        #expect(!a.overloaded)
        #expect(a.arrive(at: Self.ms(301)) == .wait(3))
        #expect(a.finish(at: Self.ms(302)) == 2)
        #expect(a.finish(at: Self.ms(303)) == 3)
        #expect(!a.overloaded && a.refused == 0)
    }

    @Test func aQueueThatStandsForTheIntervalIsOverloadAndRefusesWhatCannotStart() {
        var a = Admission(Self.settings)
        _ = (a.arrive(at: .zero), a.arrive(at: .zero))
        #expect(a.arrive(at: .zero) == .wait(1))
        #expect(a.arrive(at: .zero) == .wait(2))
        // Every request waits 100 to 200 ms, and a new one joins each time one starts: the queue stands.
        #expect(a.finish(at: Self.ms(100)) == 1)
        #expect(!a.overloaded)
        #expect(a.arrive(at: Self.ms(100)) == .wait(3))
        #expect(a.finish(at: Self.ms(200)) == 2)
        #expect(!a.overloaded)   // long waits for 100 ms only
        #expect(a.arrive(at: Self.ms(200)) == .wait(4))
        #expect(a.finish(at: Self.ms(300)) == 3)
        #expect(a.overloaded)    // for the whole interval
        // What cannot start at once is refused, and counted; the queue drains.
        #expect(a.arrive(at: Self.ms(300)) == .refuse)
        #expect(a.arrive(at: Self.ms(301)) == .refuse)
        #expect(a.refused == 2 && a.waitingCount == 1)
        #expect(a.finish(at: Self.ms(310)) == 4)
        #expect(!a.overloaded)   // it waited long too, but nothing waits behind it
        #expect(a.arrive(at: Self.ms(310)) == .wait(5))
        #expect(a.finish(at: Self.ms(320)) == 5)
        #expect(a.finish(at: Self.ms(320)) == nil)
        #expect(a.arrive(at: Self.ms(320)) == .start)
        #expect(a.refused == 2)
        // What metrics read: five waited (tickets 1 to 5), two were refused, two run.
        #expect(a.counts == Admission.Counts(limit: 2, running: 2, waiting: 0, overloaded: false, refused: 2, waited: 5))
    }

    @Test func overloadEndsWhenNothingWaits() {
        var a = Admission(Admission.Settings(limit: 1, target: .milliseconds(50), interval: .milliseconds(100)))
        #expect(a.arrive(at: .zero) == .start)
        _ = a.arrive(at: .zero)
        _ = a.arrive(at: .zero)
        #expect(a.finish(at: Self.ms(60)) == 1)
        #expect(!a.overloaded)
        _ = a.arrive(at: Self.ms(60))
        #expect(a.finish(at: Self.ms(200)) == 2)   // waited 200 ms, 140 ms after the first long wait: overload
        #expect(a.overloaded)
        #expect(a.arrive(at: Self.ms(201)) == .refuse)
        #expect(a.finish(at: Self.ms(210)) == 3)   // waited 150 ms, but nothing waits behind it: over
        #expect(!a.overloaded)
        #expect(a.finish(at: Self.ms(220)) == nil)
        #expect(a.arrive(at: Self.ms(221)) == .start)
        #expect(a.arrive(at: Self.ms(221)) == .wait(4))
        #expect(a.finish(at: Self.ms(230)) == 4)   // a short wait
        #expect(!a.overloaded)
    }

    @Test func atMostMaxWaitingWait() {
        var a = Admission(Self.settings)
        _ = (a.arrive(at: .zero), a.arrive(at: .zero))
        for n in 1...3 { #expect(a.arrive(at: .zero) == .wait(UInt64(n))) }
        #expect(a.arrive(at: .zero) == .refuse)
        #expect(a.waitingCount == 3 && a.refused == 1)
    }

    /// A queue that formed anew is judged over a whole interval of its own, not by long waits of an earlier one.
    @Test func aNewQueueIsNotJudgedByAnEarlierOne() {
        var a = Admission(Admission.Settings(limit: 1, target: .milliseconds(20), interval: .milliseconds(100)))
        _ = a.arrive(at: .zero)
        _ = (a.arrive(at: .zero), a.arrive(at: .zero))
        #expect(a.finish(at: Self.ms(50)) == 1)    // a long wait, one behind it: the interval starts
        #expect(a.finish(at: Self.ms(60)) == 2)    // the queue is empty
        _ = (a.arrive(at: Self.ms(500)), a.arrive(at: Self.ms(500)))
        #expect(a.finish(at: Self.ms(600)) == 3)   // long, but the first of this queue
        #expect(!a.overloaded)
    }

    /// Thousands waiting start in order of arrival, the queue being taken by index and compacted as it goes.
    @Test func aLongQueueStartsInOrder() {
        var a = Admission(Admission.Settings(limit: 1, target: .seconds(100), interval: .seconds(100), maxWaiting: 10_000))
        #expect(a.arrive(at: .zero) == .start)
        var expected: UInt64 = 1
        for round in 0..<3 {
            for _ in 0..<3_000 { _ = a.arrive(at: .zero) }
            while a.waitingCount > (round == 2 ? 0 : 500) {
                #expect(a.finish(at: .zero) == expected)
                expected += 1
            }
        }
        #expect(expected == 9_001 && a.running == 1)
        #expect(a.finish(at: .zero) == nil && a.running == 0)
    }
}
