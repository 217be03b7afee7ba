import Foundation
import Hummingbird
import NIOCore
import SkyportBroker
import SkyportCore

/// Skyport as a registry citizen: its VOSI 1.1 `/capabilities` and `/availability`, and a VOResource 1.1 record per
/// facility at `/registry/records/{id}` (the facility id as one percent-encoded path segment, compared
/// case-insensitively as `/facilities/{id}` compares it), so that a registry or another broker can harvest Skyport.
/// Access URLs are built from the request's Host (`ExecutionController.base`).
struct VOSIController: Controller {
    let deps: APIDependencies

    /// When this process started serving: set when the routes are first registered (at start-up), written as `upSince`.
    static let startedAt = Date()

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        _ = Self.startedAt
        table.add(.get, "/capabilities") { request, _ in
            Self.xml(VOSIDocuments.capabilities(BrokerInterfaces(baseURL: ExecutionController.base(request))))
        }
        table.add(.get, "/availability") { _, _ in
            let (available, note) = await Self.availability(store: deps.broker.store.kind, ping: deps.broker.store.ping)
            return Self.xml(VOSIDocuments.availability(available: available, upSince: Self.startedAt, notes: [note]))
        }
        table.add(.get, "/registry/records/{id}") { request, context in
            let facility = try await deps.broker.facilities.facility(try FacilityController.pathID(context))
            return Self.xml(VOSIDocuments.record(facility, baseURL: ExecutionController.base(request)))
        }
    }

    /// Whether Skyport can serve requests: true when its store answers `ping`, with a note saying which holds.
    /// The store's error is not shown (the log and `/health` have it).
    static func availability(store kind: String, ping: () async throws -> Void) async -> (Bool, String) {
        do {
            try await ping()
            return (true, "Skyport and its \(kind) store are answering.")
        } catch {
            return (false, "Skyport's \(kind) store does not answer: no request can be negotiated or tracked until it is back.")
        }
    }

    static func xml(_ document: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: document)))
    }
}
