import Foundation
import SkyportCore

/// Reads a service's VOSI capabilities (`{base}/capabilities`: a `vosi:capabilities` root holding bare `<capability>`
/// elements), for refreshing a facility from the service itself (`RegistryMapping.refresh`).
public struct VOSICapabilitiesClient: Sendable {
    public let http: RemoteHTTP

    /// `http` should have a short timeout and a body cap (a capabilities document is small).
    public init(http: RemoteHTTP) { self.http = http }

    /// GETs `url` and reads the capabilities. Throws `RemoteError` when the service cannot be reached or answers with
    /// an HTTP error or a redirect, and `RegistryError` when the answer is not a VOSI capabilities document.
    public func capabilities(at url: URL) async throws -> [RegistryCapability] {
        let response = try await http.get(url, accept: "application/xml, text/xml;q=0.9, */*;q=0.1")
        guard response.status == 200 else {
            let target = response.location.map { " to \($0.absoluteString)" } ?? ""
            throw RemoteError(.invalidResponse, url: url, status: response.status, message: "HTTP \(response.status)\(target) instead of a capabilities document")
        }
        return try VOResourceXML.capabilities(response.body)
    }
}
