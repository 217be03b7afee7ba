import Foundation

/// Who may use a facility: the facility's side of a two-sided match (as an HTCondor machine's `Requirements`).
/// Users are named by `Identity.owner` (`issuer#subject`), groups by the token's group values (`/skao/users`).
/// A caller a deny list names is refused; when an allow list is given, only those it names are admitted.
/// Operators are always admitted; an anonymous caller only where nothing is allowed by name (deny lists alone).
public struct FacilityAccess: Sendable, Hashable, Codable {
    public var allowGroups: [String]
    public var allowUsers: [String]
    public var denyGroups: [String]
    public var denyUsers: [String]
    /// Groups' shares of the facility's cores (see `ShareRule`), in the order a member of several is charged.
    public var shares: [FacilityShare]

    public init(
        allowGroups: [String] = [], allowUsers: [String] = [], denyGroups: [String] = [], denyUsers: [String] = [], shares: [FacilityShare] = []
    ) {
        self.allowGroups = allowGroups
        self.allowUsers = allowUsers
        self.denyGroups = denyGroups
        self.denyUsers = denyUsers
        self.shares = shares
    }

    enum CodingKeys: String, CodingKey { case allowGroups, allowUsers, denyGroups, denyUsers, shares }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allowGroups = try c.decodeIfPresent([String].self, forKey: .allowGroups) ?? []
        allowUsers = try c.decodeIfPresent([String].self, forKey: .allowUsers) ?? []
        denyGroups = try c.decodeIfPresent([String].self, forKey: .denyGroups) ?? []
        denyUsers = try c.decodeIfPresent([String].self, forKey: .denyUsers) ?? []
        shares = try c.decodeIfPresent([FacilityShare].self, forKey: .shares) ?? []
    }

    /// Empty lists are left out of the document.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if !allowGroups.isEmpty { try c.encode(allowGroups, forKey: .allowGroups) }
        if !allowUsers.isEmpty { try c.encode(allowUsers, forKey: .allowUsers) }
        if !denyGroups.isEmpty { try c.encode(denyGroups, forKey: .denyGroups) }
        if !denyUsers.isEmpty { try c.encode(denyUsers, forKey: .denyUsers) }
        if !shares.isEmpty { try c.encode(shares, forKey: .shares) }
    }

    /// Whether it restricts anyone at all.
    public var isOpen: Bool { allowGroups.isEmpty && allowUsers.isEmpty && denyGroups.isEmpty && denyUsers.isEmpty }
    /// Whether it says nothing (no one restricted, no shares).
    public var isEmpty: Bool { isOpen && shares.isEmpty }

    /// Whether `requester` may use the facility.
    public func admits(_ requester: Requester) -> Bool {
        switch requester {
        case .operator: return true
        case .anonymous: return allowGroups.isEmpty && allowUsers.isEmpty
        case .identity(let who):
            if denyUsers.contains(who.owner) || who.groups.contains(where: denyGroups.contains) { return false }
            if allowGroups.isEmpty && allowUsers.isEmpty { return true }
            return allowUsers.contains(who.owner) || who.groups.contains(where: allowGroups.contains)
        }
    }
}

/// Who asks for an offer, as a facility's access policy judges them.
public enum Requester: Sendable, Hashable {
    case anonymous
    /// An operator (their token): every facility admits them.
    case `operator`
    /// A signed-in scientist.
    case identity(Identity)
}

/// A group's share of a facility's cores.
public struct FacilityShare: Sendable, Hashable, Codable {
    public var group: String
    /// Of the facility's cores, in (0, 1].
    public var fraction: Double

    public init(group: String, fraction: Double) {
        self.group = group
        self.fraction = fraction
    }
}

/// Group shares of a facility, as HTCondor's group quotas with surplus: each share group is guaranteed
/// `fraction × capacity` cores; what no share covers is common to everyone. A share its group holds nothing of is
/// unused and may be borrowed by anyone; once its group holds any of it, the rest of it is kept for that group.
/// Counted over the cores held now on the facility by offers and sessions, whatever their time (a booking later
/// in the day counts as one now).
public enum ShareRule {
    /// Why a share allows no offer: the requester's share (nil: the common part) is used up and the facility's
    /// other cores are held or kept for their groups.
    public struct Breach: Error, Sendable, Hashable, CustomStringConvertible {
        public var facility: FacilityID
        public var share: String?
        public var allowed: Int
        public var used: Int
        public var needs: Int

        public var description: String {
            let whose = share.map { "group \($0)'s share" } ?? "the part no group has a share of"
            return "share-exhausted: facility \(facility.rawValue): \(whose): limit \(allowed) cores, held \(used), "
                + "this request needs at least \(needs); the other shares are in use by their groups"
        }
    }

    /// The share a member of `groups` is charged on a facility: the first of its shares naming one of them.
    public static func charged(_ groups: [String], _ shares: [FacilityShare]) -> String? {
        shares.first { groups.contains($0.group) }?.group
    }

    /// The most cores a requester charged to `share` may take now on a facility of `capacity` cores, where
    /// `held[group]` cores are held by each share and `total` in all; or the breach when fewer than `lower`.
    public static func room(
        facility: FacilityID, capacity: Int, shares: [FacilityShare], share: String?, held: [String: Int], total: Int, lower: Int
    ) -> Result<Int, Breach> {
        func guarantee(_ s: FacilityShare) -> Int { Int((s.fraction * Double(capacity)).rounded(.down)) }
        var kept = 0
        for s in shares where s.group != share {
            let h = held[s.group] ?? 0
            if h > 0 { kept += max(0, guarantee(s) - h) }
        }
        let room = max(0, capacity - total - kept)
        if let share, let own = shares.first(where: { $0.group == share }) {
            let h = held[share] ?? 0
            let left = guarantee(own) - h
            if left >= lower { return .success(max(room, left)) }
            if room >= lower { return .success(room) }
            return .failure(Breach(facility: facility, share: share, allowed: guarantee(own), used: h, needs: lower))
        }
        if room >= lower { return .success(room) }
        let common = capacity - shares.reduce(0) { $0 + guarantee($1) }
        let inShares = shares.reduce(0) { $0 + (held[$1.group] ?? 0) }
        return .failure(Breach(facility: facility, share: nil, allowed: max(0, common), used: max(0, total - inShares), needs: lower))
    }
}
