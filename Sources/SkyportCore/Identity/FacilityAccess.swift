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

    public init(allowGroups: [String] = [], allowUsers: [String] = [], denyGroups: [String] = [], denyUsers: [String] = []) {
        self.allowGroups = allowGroups
        self.allowUsers = allowUsers
        self.denyGroups = denyGroups
        self.denyUsers = denyUsers
    }

    enum CodingKeys: String, CodingKey { case allowGroups, allowUsers, denyGroups, denyUsers }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allowGroups = try c.decodeIfPresent([String].self, forKey: .allowGroups) ?? []
        allowUsers = try c.decodeIfPresent([String].self, forKey: .allowUsers) ?? []
        denyGroups = try c.decodeIfPresent([String].self, forKey: .denyGroups) ?? []
        denyUsers = try c.decodeIfPresent([String].self, forKey: .denyUsers) ?? []
    }

    /// Empty lists are left out of the document.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if !allowGroups.isEmpty { try c.encode(allowGroups, forKey: .allowGroups) }
        if !allowUsers.isEmpty { try c.encode(allowUsers, forKey: .allowUsers) }
        if !denyGroups.isEmpty { try c.encode(denyGroups, forKey: .denyGroups) }
        if !denyUsers.isEmpty { try c.encode(denyUsers, forKey: .denyUsers) }
    }

    /// Whether it restricts anyone at all.
    public var isOpen: Bool { allowGroups.isEmpty && allowUsers.isEmpty && denyGroups.isEmpty && denyUsers.isEmpty }

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
