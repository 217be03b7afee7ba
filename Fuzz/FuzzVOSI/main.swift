// VOSI capabilities documents (`VOResourceXML.capabilities`, what `VOSICapabilitiesClient` and facility refresh read).
import Foundation
import FuzzSupport
import SkyportRemotes

Fuzz.run { data in
    _ = try? VOResourceXML.capabilities(data)
}
