import Foundation

/// The brokers a request has already passed through, carried from broker to broker in the `Skyport-Via` header
/// (`Skyport-Via: skyport-3f2a9c41, skyport-77d0e2b8`). A broker that finds its own identifier there is being asked
/// its own question again (A asks B asks A): it refuses, and the asking broker lists that facility as a loop.
/// A path of `maxHops` brokers is refused as well, which stops loops through brokers that do not add themselves.
public struct FederationPath: Sendable, Hashable, CustomStringConvertible {
    public static let header = "Skyport-Via"
    public static let maxHops = 8

    public private(set) var brokers: [String]

    public init(_ brokers: [String] = []) { self.brokers = brokers }

    /// Reads a header value: comma-separated identifiers; empty and over-long entries are dropped.
    public init(header: String?) {
        brokers = (header ?? "").split(separator: ",").lazy
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty && $0.utf8.count <= 128 }
            .prefix(64).map { String($0) }
    }

    public var headerValue: String { brokers.joined(separator: ", ") }
    public var description: String { brokers.isEmpty ? "(direct)" : brokers.joined(separator: " → ") }

    /// The path a question takes on from broker `id`.
    public func adding(_ id: String) -> FederationPath { FederationPath(brokers + [id]) }

    /// Why broker `id` must not answer a question that came this way, or nil when it may.
    public func refusal(at id: String) -> String? {
        if brokers.contains(id) {
            return "federation loop: this request already passed through broker \(id) (\(adding(id)))"
        }
        if brokers.count >= Self.maxHops {
            return "federation path too long: the request passed through \(brokers.count) brokers (at most \(Self.maxHops))"
        }
        return nil
    }
}

/// One offer another ExecutionBroker made, as Skyport read it from the remote offer set.
public struct RemoteOffer: Sendable, Hashable {
    /// The remote session's URL: where it is accepted, rejected and followed.
    public var session: String
    public var cores: Int
    public var memory: Int
    public var start: Date
    public var duration: ISODuration
    /// Until when the remote broker holds it; nil when it did not say.
    public var expires: Date?
    /// The remote broker's name for where it would run (its own facility), when it says.
    public var facility: String?

    public init(session: String, cores: Int, memory: Int, start: Date, duration: ISODuration, expires: Date?, facility: String? = nil) {
        self.session = session
        self.cores = cores
        self.memory = memory
        self.start = start
        self.duration = duration
        self.expires = expires
        self.facility = facility
    }
}

/// What asking one federated broker came to.
public enum BrokerAnswer: Sendable, Hashable {
    /// Offers (the remote offer set's URL, its offers in its order, and its messages).
    case offers(offerSet: String, [RemoteOffer], messages: [String])
    /// An answer without offers (`result: NO`), with the remote broker's messages.
    case noOffers(offerSet: String?, messages: [String])
    /// No answer within the deadline (seconds): dropped.
    case late(deadline: Double)
    /// The remote broker refused because the request had already passed through it.
    case loop(String)
    /// Unreachable, an error status, or a document that is no offer set.
    case failed(String)

    /// Why this broker gives no offers, as a rejection reason (nil when it gave some).
    public func reason(for facility: FacilityID) -> MatchReason? {
        switch self {
        case .offers:
            return nil
        case .noOffers(_, let messages):
            return MatchReason(
                code: .brokerNoOffers, field: "executable", requested: "an offer", offered: "none",
                detail: messages.isEmpty ? nil : messages.prefix(3).joined(separator: "; "), facility: facility)
        case .late(let deadline):
            return MatchReason(
                code: .brokerLate, field: "deadline", requested: "an answer within \(Self.seconds(deadline))", offered: "no answer in time",
                facility: facility)
        case .loop(let message):
            return MatchReason(
                code: .federationLoop, field: "federation", requested: "a broker not yet asked", offered: "loop", detail: message, facility: facility)
        case .failed(let message):
            return MatchReason(code: .brokerUnreachable, field: "endpoints", requested: "an offer set", offered: "error", detail: message, facility: facility)
        }
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(Int((s * 1000).rounded())) ms"
    }
}

/// A broker facility to ask, and how long to wait for it.
public struct BrokerQuestion: Sendable, Hashable {
    public var facility: FacilityID
    public var endpoint: Endpoint
    /// Seconds to wait for the offer set.
    public var deadline: Double
    /// Where the broker's offers, sessions and redirects may point: the origins of the facility's registered
    /// endpoints (by default, the endpoint's own).
    public var origins: Set<Origin>

    public init(facility: FacilityID, endpoint: Endpoint, deadline: Double, origins: Set<Origin>? = nil) {
        self.facility = facility
        self.endpoint = endpoint
        self.deadline = deadline
        self.origins = origins ?? Set([Origin(endpoint.url)].compactMap { $0 })
    }
}

/// Asks other ExecutionBrokers for offers: all at once, each within its deadline (adapters do the I/O).
public protocol OfferForwarder: Sendable {
    /// This broker's identifier on federation paths.
    var brokerID: String { get }
    /// Asks each broker the (normalised) request; returns one answer per facility, never later than the longest
    /// deadline. `path` is the way the request came to this broker. `each` hears every answer the moment it is
    /// known (one at a time), so that the caller can store offers while the slower brokers are awaited.
    func ask(
        _ request: NormalisedRequest, of brokers: [BrokerQuestion], path: FederationPath,
        each: @escaping @Sendable (FacilityID, BrokerAnswer) async -> Void
    ) async -> [FacilityID: BrokerAnswer]
}

extension OfferForwarder {
    public func ask(_ request: NormalisedRequest, of brokers: [BrokerQuestion], path: FederationPath) async -> [FacilityID: BrokerAnswer] {
        await ask(request, of: brokers, path: path, each: { _, _ in })
    }
}

extension Facility {
    /// The endpoint that makes this facility another broker (its offers come from there), if it has one.
    public var brokerEndpoint: Endpoint? { endpoints.first { $0.kind == .executionbroker } }
}
