import Foundation
import Logging
import OTel
import ServiceLifecycle

/// OpenTelemetry tracing, off unless `SKYPORT_OTLP_ENDPOINT` is set: spans are exported over OTLP/HTTP (protobuf)
/// by swift-otel, W3C `traceparent` is read from every request (Hummingbird's `TracingMiddleware`) and sent with
/// every outbound call (the egress gate), and log lines carry `trace_id` and `span_id`. Only traces: metrics stay on
/// `/metrics` and logs on standard error. The collector is the operator's own configuration, so its calls are not
/// judged by the egress rule (as with the other settings an operator writes).
public enum SkyportTracing {
    /// The service that exports spans (run it first in the service group, so that it stops last and flushes), after
    /// making swift-otel the process's tracer; nil when tracing is off. Call once per process, before any span.
    public static func bootstrap(_ config: SkyportConfiguration, logger: Logger) throws -> (any Service)? {
        guard let endpoint = config.otlpEndpoint else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = "skyport"
        otel.resourceAttributes = ["service.instance.id": config.brokerID, "service.version": SkyportRuntime.version]
        otel.diagnosticLogger = .custom(logger)
        otel.propagators = [.traceContext]
        otel.metrics.enabled = false
        otel.logs.enabled = false
        otel.traces.enabled = true
        // Which requests are traced is decided at the door (`SampledTracingMiddleware`, by `traceSample`); spans are made
        // only in a trace so decided (`TraceScope`), and every one of them is recorded unless its caller said not.
        otel.traces.sampler = .parentBasedAlwaysOn
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        otel.traces.otlpExporter.endpoint = endpoint.hasSuffix("/v1/traces")
            ? endpoint : (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
        // Spans leave in batches, soon enough that a short-lived test or a crash loses little.
        otel.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        logger.notice("tracing on", metadata: ["otlp": .string(otel.traces.otlpExporter.endpoint), "sample": .stringConvertible(config.traceSample)])
        // The standard OTEL_* variables still apply over these (OTEL_EXPORTER_OTLP_HEADERS for a collector that wants
        // a token, certificates, timeouts), as in any OpenTelemetry SDK.
        return try OTel.bootstrap(configuration: otel, environment: ProcessInfo.processInfo.environment)
    }

    /// Puts the current span's trace and span ids on every log line (when tracing is on).
    public static var loggingMetadata: Logger.MetadataProvider {
        var keys = OTel.Configuration.LoggingMetadataProviderConfiguration.default
        keys.traceIDKey = "trace_id"
        keys.spanIDKey = "span_id"
        keys.traceFlagsKey = "trace_flags"
        return OTel.makeLoggingMetadataProvider(configuration: keys)
    }
}
