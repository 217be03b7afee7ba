import Foundation
import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Testing

struct HostResolverTests {
    /// A lookup the DNS server never answers holds its own thread, not the caller: a caller that is cancelled (the
    /// egress gate cancels at its deadline) is let go at once, and a second caller of the same lookup still gets
    /// its answer when it comes.
    @Test func aCancelledCallerIsLetGoWhileTheLookupGoesOn() async throws {
        let (answer, answering) = AsyncStream.makeStream(of: [IPAddress].self)
        let lookup = Task<[IPAddress], any Error> {
            for await addresses in answer { return addresses }
            throw CancellationError()
        }
        let impatient = Task { try await SystemResolver.value(of: lookup) }
        let patient = Task { try await SystemResolver.value(of: lookup) }
        impatient.cancel()
        await #expect(throws: CancellationError.self) { try await impatient.value }
        answering.yield([IPAddress("127.0.0.1")!])
        #expect(try await patient.value == [IPAddress("127.0.0.1")!])
        #expect(try await lookup.value == [IPAddress("127.0.0.1")!])
    }

    /// The waiter is resumed once whichever comes first, the end or the cancellation, in both orders.
    @Test func aWaiterIsResumedOnceInEitherOrder() async throws {
        let address = [IPAddress("127.0.0.1")!]
        let late = SystemResolver.Waiter()
        let waited: [IPAddress] = try await withCheckedThrowingContinuation { continuation in
            #expect(late.wait(continuation))  // waiting first
            late.finish(.success(address))
            late.finish(.failure(CancellationError()))  // too late: ignored
        }
        #expect(waited == address)
        let early = SystemResolver.Waiter()
        early.finish(.failure(CancellationError()))  // cancelled before it waits
        early.finish(.success(address))
        await #expect(throws: CancellationError.self) {
            _ = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[IPAddress], any Error>) in
                #expect(!early.wait(continuation))
            }
        }
    }

    @Test func aCallerCancelledBeforeItWaitsIsLetGoToo() async throws {
        let lookup = Task<[IPAddress], any Error> { try await Task.sleep(for: .seconds(3600)); return [] }
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await SystemResolver.value(of: lookup)
        }
        await #expect(throws: CancellationError.self) { try await waiter.value }
        lookup.cancel()
    }

    @Test func numericSpellingsAreLiteralsAndNamesAreNot() async throws {
        #expect(SystemResolver.literal("0x7f.1", port: 80) == [IPAddress("127.0.0.1")!])
        #expect(SystemResolver.literal("2130706433", port: 80) == [IPAddress("127.0.0.1")!])
        #expect(SystemResolver.literal("::1", port: 80) == [IPAddress("::1")!])
        #expect(SystemResolver.literal("localhost", port: 80) == nil)
        #expect(try await SystemResolver().addresses(of: "localhost", port: 80).contains(IPAddress("127.0.0.1")!))
    }

    /// Concurrent lookups of one name all get its answer.
    @Test func concurrentLookupsOfOneNameAllGetTheAnswer() async throws {
        let answers = try await withThrowingTaskGroup(of: [IPAddress].self) { group in
            for _ in 0..<32 { group.addTask { try await SystemResolver().addresses(of: "localhost", port: 8080) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 32 && Set(answers).count == 1 && answers[0].contains(IPAddress("127.0.0.1")!))
    }

    /// The tests' resolver sends no DNS query: an invented name is unresolvable at once, loopback names resolve.
    @Test func theTestsResolverAsksNoDNSServer() async throws {
        let resolver = TestResolver()
        for name in ["a.example", "github.com", "h", "localhost.example"] {
            await #expect(throws: SystemResolver.Failure.self) { try await resolver.addresses(of: name, port: 443) }
        }
        #expect(try await resolver.addresses(of: "0x7f.1", port: 80) == [IPAddress("127.0.0.1")!])
        #expect(try await resolver.addresses(of: "localhost", port: 80).contains(IPAddress("127.0.0.1")!))
        #expect(try await resolver.addresses(of: "peer.localhost", port: 80) == [IPAddress("127.0.0.1")!])
    }
}
