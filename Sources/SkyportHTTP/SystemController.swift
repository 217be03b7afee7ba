import Foundation
import Hummingbird
import SkyportCore

/// `/health`, `/metrics` and `/openapi.yaml`.
struct SystemController: Controller {
    let deps: APIDependencies

    struct Health: Encodable {
        struct Store: Encodable {
            var kind: String
            var status: String
            var error: String?
        }
        var status: String
        var version: String
        /// This process among the replicas sharing the store.
        var replica: String
        var store: Store
    }

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/health") { request, _ in
            var health = Health(status: "ok", version: deps.version, replica: deps.replica, store: .init(kind: deps.broker.store.kind, status: "ok"))
            do {
                try await deps.broker.store.ping()
            } catch {
                health.status = "degraded"
                health.store.status = "unavailable"
                health.store.error = String(describing: error).prefix(200).description
            }
            return try Representation.response(health, status: health.status == "ok" ? .ok : .serviceUnavailable, for: request)
        }
        table.add(.get, "/metrics") { _, _ in
            await deps.beforeMetrics()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16_384)
            deps.metrics.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        table.add(.get, "/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
    }
}
