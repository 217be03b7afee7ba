import HTTPTypes
import SkyportCore
import Testing
@testable import SkyportHTTP

/// How a refusal to carry the user's credentials reads: a final no is 403, an issuer that could not be asked 503.
@Suite struct CredentialErrorTests {
    @Test func aRefusalIsFinalAndAnUnreachableIssuerIsWorthRetrying() throws {
        let refused = try #require(APIError.from(CredentialRefusal("only one issued for audience x")) as? APIError)
        #expect(refused.status == .forbidden && refused.code == "credentials-refused" && refused.errors.map(\.field) == ["credentials"])
        let unreachable = try #require(APIError.from(CredentialRefusal("the issuer timed out", temporary: true)) as? APIError)
        #expect(unreachable.status == .serviceUnavailable && unreachable.code == "issuer-unavailable")
        #expect(unreachable.headers[.retryAfter] == "5")
        let breach = try #require(APIError.from(QuotaBreach(account: .user("i#a"), limit: .sessions, allowed: 1, used: 1)) as? APIError)
        #expect(breach.status == .forbidden && breach.code == "quota-exceeded" && breach.errors.map(\.field) == ["quota.sessions"])
    }
}
