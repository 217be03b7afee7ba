import Foundation

/// BinderHubs that must run the same versions, as the mybinder.org federation redirector keeps its members: the
/// prime's `/versions` answer is the reference, and a member whose answer differs (it lags behind a deploy, or ran
/// ahead of it) is unavailable until the two agree again.
///
/// Only the listed facilities are compared: independent BinderHubs run whatever versions they like. The prime itself
/// is never held back, and while its versions are unknown (never checked, `/versions` unanswered, or the prime no
/// longer active) nothing is compared, so that the federation does not stop when the prime does.
public struct BinderFederation: Sendable, Hashable {
    /// The reference BinderHub.
    public var prime: FacilityID
    /// The BinderHubs held to the prime's versions.
    public var members: Set<FacilityID>

    public init(prime: FacilityID, members: Set<FacilityID>) {
        self.prime = prime
        self.members = members.subtracting([prime])
    }

    /// The federation `SKYPORT_BINDER_FEDERATION` names: facility identifiers, the prime first; nil for fewer than two.
    public init?(listing ids: [String]) {
        let cleaned = ids.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        guard let first = cleaned.first else { return nil }
        let members = Set(cleaned.dropFirst().map { FacilityID($0) }).subtracting([FacilityID(first)])
        guard !members.isEmpty else { return nil }
        self.init(prime: FacilityID(first), members: members)
    }

    /// Why a member's `/versions` answer (`fingerprint`) makes it unavailable, given the prime's; nil when the
    /// facility is not a member, either answer is unknown, or they agree.
    public func mismatch(of id: FacilityID, fingerprint: String?, primeFingerprint: String?) -> String? {
        guard members.contains(id), let mine = fingerprint, let reference = primeFingerprint, mine != reference else { return nil }
        return "BinderHub /versions differ from the federation's prime \(prime): " + Self.difference(mine, reference)
    }

    /// `binderhub 1.0.0 here, 1.1.0 at the prime; builder_info ...`: the top-level keys that differ, both values
    /// named; the two answers whole when they are not JSON objects.
    static func difference(_ mine: String, _ reference: String) -> String {
        guard let a = try? CanonicalJSON.decode(JSONValue.self, mine).objectValue,
              let b = try? CanonicalJSON.decode(JSONValue.self, reference).objectValue else {
            return "\(mine) here, \(reference) at the prime"
        }
        let keys = Set(a.keys).union(b.keys).sorted().filter { a[$0] != b[$0] }
        return keys.map { "\($0) \(render(a[$0])) here, \(render(b[$0])) at the prime" }.joined(separator: "; ")
    }

    static func render(_ value: JSONValue?) -> String {
        guard let value else { return "(none)" }
        if let text = value.stringValue { return text }
        return (try? CanonicalJSON.encode(value)) ?? "?"
    }
}
