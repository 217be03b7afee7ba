import Foundation
import SkyportCore
import Testing

/// The long polls' wake-up: an observation taken before a read sees every change after it, and nothing is left behind.
@Suite struct ChangeFeedTests {
    @Test func aChangeAfterObservingWakesTheWaitAtOnce() async {
        let feed = ChangeFeed()
        let o = feed.observe(["session:a"])
        feed.changed("session:a")  // between the read and the wait: not missed
        #expect(await o.wait(upTo: .seconds(600)))
        #expect(feed.observing == 0)
    }

    @Test func aWaiterIsWokenByAnyOfItsKeys() async {
        let feed = ChangeFeed()
        let o = feed.observe(["uws:1", "session:b"])
        async let woke = o.wait(upTo: .seconds(600))
        // The waiter is suspended or about to be: ring its key until it has taken the ring (no sleeps, no timing).
        while feed.observing > 0 {
            feed.changed("session:b")
            await Task.yield()
        }
        #expect(await woke)
    }

    @Test func aWaitWithNoChangeEndsAtItsTimeoutWithoutAChange() async {
        let feed = ChangeFeed()
        let o = feed.observe(["session:c"])
        feed.changed("session:d")
        #expect(await o.wait(upTo: .milliseconds(1)) == false)
        #expect(feed.observing == 0)
    }

    @Test func aSweepWakesEveryone() async {
        let feed = ChangeFeed()
        let observations = (0..<5).map { feed.observe(["session:\($0)"]) }
        feed.changedAll()
        for o in observations { #expect(await o.wait(upTo: .seconds(600))) }
        #expect(feed.observing == 0)
    }

    @Test func aCancelledObservationIsForgotten() {
        let feed = ChangeFeed()
        feed.observe(["session:e"]).cancel()
        feed.changed("session:e")
        #expect(feed.observing == 0)
    }

    @Test func aCancelledTaskStopsWaiting() async {
        let feed = ChangeFeed()
        let o = feed.observe(["session:f"])
        let task = Task { await o.wait(upTo: .seconds(600)) }
        task.cancel()
        #expect(await task.value == false)
        #expect(feed.observing == 0)
    }
}
