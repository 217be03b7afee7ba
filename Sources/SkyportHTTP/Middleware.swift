import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Logging
import Prometheus
import SkyportCore

/// Gives every request an id (the client's `X-Request-Id` when it sent a sane one), puts it in the
/// request's logger metadata and in the response, logs the request's outcome, and turns every error
/// into a structured JSON answer (never a bare 500).
struct RequestMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.acceptableID(request.headers[.xRequestID]) ?? context.id
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            if let mapped = APIError.from(error) {
                response = try mapped.response(from: request, context: context)
            } else {
                context.logger.error("unhandled error", metadata: ["error": .string(String(describing: error))])
                response = try APIError(.internalServerError, code: "internal-error", "something went wrong inside Skyport; the log has request id \(requestID)")
                    .response(from: request, context: context)
            }
        }
        response.headers[.xRequestID] = requestID
        let elapsed = ContinuousClock.now - started
        context.logger.debug(
            "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code),
                "ms": .stringConvertible(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000),
            ])
        return response
    }

    static func acceptableID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128,
              value.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        return value
    }
}

/// Counts requests and times them by method, route (the route pattern, not the raw path) and status,
/// into the Prometheus registry that `/metrics` serves.
struct PrometheusMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: PrometheusCollectorRegistry
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "skyport", subsystem: "http", metricName: "requests", unitName: "total", helpText: "HTTP requests by method, route and status")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "skyport", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "HTTP request latency by method and route")
    }
    static var buckets: [Duration] {
        [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
         .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
         .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        registry.makeCounter(
            descriptor: Self.requests,
            labels: [("method", method), ("route", route), ("status", String(response.status.code))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.duration, labels: [("method", method), ("route", route)], buckets: Self.buckets
        ).record(ContinuousClock.now - started)
        return response
    }
}

/// Head sampling at the door: a request is traced (Hummingbird's `TracingMiddleware`, inside `TraceScope.traced`)
/// when its caller sent a `traceparent` (continued, whatever its sampled flag says), or else with probability
/// `ratio`. Untraced requests make no span at all, so that a 1% sample costs about 1% of tracing everything.
struct SampledTracingMiddleware<Context: RequestContext>: RouterMiddleware {
    let ratio: Double
    let tracing = TracingMiddleware<Context>(recordingHeaders: [], redactingQueryParameters: ["token"])
    static var traceparent: HTTPField.Name { HTTPField.Name("traceparent")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[Self.traceparent] != nil || ratio >= 1 || Double.random(in: 0..<1) < ratio else {
            return try await next(request, context)
        }
        return try await TraceScope.$traced.withValue(true) { try await tracing.handle(request, context: context, next: next) }
    }
}
