import Foundation
import SkyportCore

/// Why a use case refused, in the domain's words; the HTTP edge maps each case to a status and a code in one place
/// (`APIError.from`). Input that breaks a document's rules is a `ValidationFailure` / `FieldError` instead.
public enum BrokerError: Error, Sendable, Equatable {
    /// The thing named does not exist (or is not the caller's to see).
    case notFound(String)
    /// The facility belongs to another operator.
    case notOwner(FacilityID)
    /// Something else (a registry source) belongs to another operator, or to the broker's configuration.
    case forbidden(String)
    /// A facility with live jobs was set to draining instead of removed.
    case facilityHasLiveJobs(FacilityID, live: Int)
    /// A facility has no VOSI capabilities URL to refresh from.
    case noCapabilitiesURL(FacilityID)
    /// This broker is not configured to read VOSI capabilities.
    case refreshUnavailable
    /// Reading a facility's VOSI capabilities failed; the facility is unchanged.
    case capabilitiesUnavailable(FacilityID, url: String, reason: String)
    /// The capabilities describe nothing Skyport can run work on; the facility is unchanged.
    case capabilitiesUnusable(url: String, reason: String)
    /// The request came round in a loop of brokers (or through too many).
    case federationLoop(String)
    /// A parameter or header that is not a document field is wrong (a UWS parameter, `Idempotency-Key`).
    case badParameter(field: String, message: String)
    /// Several parameters are wrong at once (the request built from UWS job parameters).
    case invalidParameters([FieldError])
}

