import Foundation
import HummingbirdTesting
import Prometheus
import SkyportApp
import SkyportCore
import SkyportStore
import Testing

/// The domain metric families `/metrics` serves (README, "Metrics"), after a small workload through the API.
@Suite struct MetricsAPITests {
    /// The value of one series in a Prometheus text exposition (nil: absent).
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func offerRequestsOffersAndSessionsAreCountedByResultReasonAndPhase() async throws {
        for store in [InMemoryStore() as any BrokerStore, try SQLiteStore(path: ":memory:")] {
            try await TestBroker(store: store).run { client in
                let list = try await client.siblingOffers()
                // A request no facility takes: no facility runs a TAP query with 1,000 cores.
                let no = try await client.request(json: #"{"executable": {"kind": "tap-query", "query": "SELECT 1"}, "compute": {"cores": {"min": 1000}}}"#)
                #expect(no.body["result"] as? String == "NO")
                #expect(try await client.setPhase(sessionURL(list[0]), "ACCEPTED").status == .ok)

                let text = try await client.send(.get, "/metrics").text
                let v = { (series: String) in Self.value(text, series) }
                #expect(v(#"skyport_offer_requests_total{result="YES",reason="offered"}"#) == 1)
                #expect(v(#"skyport_offer_requests_total{result="NO",reason="cores"}"#) == 1, "\(text)")
                #expect(v("skyport_offers_made_total") == Double(list.count))
                #expect(v(#"skyport_offers_ended_total{outcome="accepted"}"#) == 1)
                // The acceptance rejected every sibling, in the store's one transaction.
                #expect(v(#"skyport_offers_ended_total{outcome="rejected"}"#) == Double(list.count - 1))
                #expect(v(#"skyport_session_transitions_total{from="OFFERED",to="ACCEPTED"}"#) == 1)
                #expect(v(#"skyport_session_transitions_total{from="OFFERED",to="REJECTED"}"#) == Double(list.count - 1))
                #expect(v(#"skyport_sessions{phase="ACCEPTED"}"#) == 1)
                #expect(v(#"skyport_sessions{phase="REJECTED"}"#) == Double(list.count - 1))
                #expect(v(#"skyport_sessions{phase="OFFERED"}"#) == 0)
                // No forwarding service runs here: the accepted session waits for one.
                #expect(v("skyport_forwarding_queue_sessions") == 1)
                #expect(v(#"skyport_store_rows{table="facility"}"#) == 2)
                #expect(v(#"skyport_build_info{version="0.1.0"}"#) == 1)
            }
        }
    }

    @Test func expiredOffersAreCountedAsTheyExpire() async throws {
        let store = InMemoryStore()
        try await TestBroker(store: store).run { client in
            let list = try await client.siblingOffers()
            _ = try await store.expireOffers(now: Date().addingTimeInterval(3600))
            let text = try await client.send(.get, "/metrics").text
            #expect(Self.value(text, #"skyport_offers_ended_total{outcome="expired"}"#) == Double(list.count))
            #expect(Self.value(text, #"skyport_session_transitions_total{from="OFFERED",to="EXPIRED"}"#) == Double(list.count))
        }
    }
}

/// A facility's series go with it.
@Suite struct BrokerMetricsSeriesTests {
    @Test func aRemovedFacilitysSeriesAreRemovedAtTheNextRefresh() {
        let registry = PrometheusCollectorRegistry()
        let metrics = BrokerMetrics(registry, version: "test")
        let (a, b) = (FacilityID("ivo://a.example/tap"), FacilityID("ivo://b.example/tap"))
        for f in [a, b] {
            metrics.record(.remoteCall(facility: f, operation: .submit, outcome: .ok, seconds: 0.01))
            metrics.record(.forwardingRetry(facility: f))
        }
        var board = HealthBoard()
        board.record(HealthProbeResult(healthy: false, reason: "down"), for: b, at: Date())
        metrics.refresh(StoreStatistics(), health: board, facilities: [a, b])
        var text = Self.text(registry)
        #expect(text.contains(#"skyport_facility_up{facility="ivo://b.example/tap"} 0"#))
        #expect(text.contains(#"skyport_remote_calls_total{facility="ivo://b.example/tap",operation="submit",outcome="ok"} 1"#))
        // b is removed: its series go, a's stay.
        metrics.refresh(StoreStatistics(), health: board, facilities: [a])
        text = Self.text(registry)
        #expect(!text.contains("ivo://b.example/tap"), "\(text)")
        #expect(text.contains(#"skyport_remote_calls_total{facility="ivo://a.example/tap",operation="submit",outcome="ok"} 1"#))
        #expect(text.contains(#"skyport_forwarding_retries_total{facility="ivo://a.example/tap"} 1"#))
    }

    static func text(_ registry: PrometheusCollectorRegistry) -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
