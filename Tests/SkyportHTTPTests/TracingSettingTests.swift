import SkyportApp
import Testing

/// The tracing settings: off unless an endpoint is given, and bad values refused naming the variable.
@Suite struct TracingSettingTests {
    @Test func tracingIsOffUnlessAnEndpointIsGivenAndBadValuesAreRefused() throws {
        let none = try SkyportConfiguration.fromEnvironment([:])
        #expect(none.otlpEndpoint == nil && none.traceSample == 1)
        let on = try SkyportConfiguration.fromEnvironment(["SKYPORT_OTLP_ENDPOINT": "http://127.0.0.1:4318", "SKYPORT_TRACE_SAMPLE": "0.01"])
        #expect(on.otlpEndpoint == "http://127.0.0.1:4318" && on.traceSample == 0.01)
        for (key, value) in [("SKYPORT_OTLP_ENDPOINT", "collector:4318"), ("SKYPORT_TRACE_SAMPLE", "2"), ("SKYPORT_TRACE_SAMPLE", "a tenth")] {
            #expect { try SkyportConfiguration.fromEnvironment([key: value]) } throws: { error in
                (error as? SkyportConfiguration.Invalid)?.description.contains(key) == true
            }
        }
    }
}
