import Foundation
import Testing
import SkyportBench
@testable import SkyportCore

@Suite struct MatchBatchTests {
    typealias F = MatchFixtures

    @Test func requestsOfOneShapeAreMatchedOnce() {
        let facilities = SyntheticWorkload.facilities(count: 100, seed: 3)
        let requests = SyntheticWorkload.requests(count: 500, distinctShapes: 20, seed: 4)
        var batch = MatchBatch(facilities: facilities)
        let lines = batch.lines(for: requests)
        #expect(batch.distinctShapes <= 20 && batch.distinctShapes > 10)
        #expect(lines.count == 500)
        // The cached answers are the ones a fresh match gives.
        for (line, request) in zip(lines, requests).prefix(60) {
            let direct = Matcher.match(request, against: facilities)
            #expect(line.facilities == direct.rankedIDs.map(\.rawValue))
            #expect(line.rejected == direct.rejectedCount)
            #expect(line.result == (direct.isMatch ? "YES" : "NO"))
        }
    }

    @Test func theShapeIgnoresWhatMatchingDoesNotRead() {
        var a = F.request(cores: ResourceRange(min: 2, max: 4), rucio: [["PIC-DCACHE", "desy-dcache"], ["CERN-EOS"]], name: "a")
        a.executable.location = "https://example.org/a.ipynb"
        a.data.append(DataItem(kind: .url, url: "https://example.org/x.fits"))
        let b = F.request(cores: ResourceRange(min: 2, max: 64), rucio: [["CERN-EOS"], ["DESY-DCACHE", "PIC-DCACHE"]], name: "b")
        #expect(MatchShape(a) == MatchShape(b))
        #expect(MatchShape(a) != MatchShape(F.request(cores: ResourceRange(min: 3), rucio: [["CERN-EOS"], ["DESY-DCACHE", "PIC-DCACHE"]])))
        #expect(MatchShape(a) != MatchShape(F.request(cores: ResourceRange(min: 2), rucio: [["CERN-EOS"]])))
    }

    @Test func linesAreLabelledByNameOrPositionAndPrintAsJSON() throws {
        var batch = MatchBatch(facilities: [F.facility("Alpha"), F.facility("beta", status: .draining)])
        let lines = batch.lines(for: [F.request(name: "say \"hi\""), F.request(kind: .tapQuery)])
        #expect(lines[0].json == #"{"request":"say \"hi\"","result":"YES","facilities":["Alpha"],"rejected":1}"#)
        #expect(lines[1].json == #"{"request":1,"result":"NO","facilities":[],"rejected":2}"#)
        for line in lines {
            let decoded = try JSONDecoder().decode(MatchLine.self, from: Data(line.json.utf8))
            #expect(decoded == line)
        }
    }

    @Test func benchmarkCountsPairsAndUsesTheClock() {
        let facilities = SyntheticWorkload.facilities(count: 50, seed: 1)
        let requests = SyntheticWorkload.requests(count: 40, distinctShapes: 10, seed: 2)
        var tick: UInt64 = 0
        let clock = { () -> UInt64 in tick += 1_000_000; return tick }
        let plain = MatchBenchmark.run(facilities: facilities, requests: requests, clock: clock)
        let cached = MatchBenchmark.run(facilities: facilities, requests: requests, shapeCache: true, clock: clock)
        #expect(plain.pairs == 2_000 && cached.pairs == 2_000)
        #expect(plain.evaluatedPairs == 2_000)
        #expect(cached.evaluatedPairs == cached.distinctShapes * 50)
        #expect(plain.distinctShapes == cached.distinctShapes)
        #expect(plain.acceptedPairs == cached.acceptedPairs)
        let expected = requests.map { Matcher.match($0, against: facilities).acceptedCount }.reduce(0, +)
        #expect(plain.acceptedPairs == expected && expected > 0)
        #expect(plain.matchNanoseconds == 1_000_000)
        #expect(plain.microsecondsPerPair == 0.5)
        #expect(plain.requestsPerSecond == 40_000)
    }

    @Test func syntheticWorkloadsAreSeededAndVaried() {
        #expect(SyntheticWorkload.facilities(count: 50, seed: 8) == SyntheticWorkload.facilities(count: 50, seed: 8))
        #expect(SyntheticWorkload.facilities(count: 50, seed: 8) != SyntheticWorkload.facilities(count: 50, seed: 9))
        #expect(SyntheticWorkload.requests(count: 50, distinctShapes: 5, seed: 8) == SyntheticWorkload.requests(count: 50, distinctShapes: 5, seed: 8))
        let fs = SyntheticWorkload.facilities(count: 1_000, seed: 42)
        #expect(Set(fs.map(\.id)).count == 1_000)
        #expect(fs.allSatisfy { $0.id.problem == nil })
        for status in FacilityStatus.allCases { #expect(fs.contains { $0.status == status }) }
        #expect(fs.contains { $0.limits.cores == nil } && fs.contains { $0.capacity.memory == nil })
        #expect(fs.contains { $0.data.rses.isEmpty } && fs.contains { $0.data.rses.count > 1 })
        let rs = SyntheticWorkload.requests(count: 1_000, distinctShapes: 1_000, seed: 42)
        #expect(rs.contains { $0.executable.kind == nil } && rs.contains { $0.cores == nil } && rs.contains { $0.duration == nil })
        #expect(rs.contains { $0.data.contains { $0.kind == .rucio && $0.rses.isEmpty } })
        #expect(Set(rs.map(MatchShape.init)).count > 800)
    }
}
