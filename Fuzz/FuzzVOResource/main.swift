// Registry XML: OAI-PMH pages and Identify answers, VOResource records (`VOResourceXML.document`, `.oaiPage`,
// `.identify`), through libxml2.
import Foundation
import FuzzSupport
import SkyportRemotes

Fuzz.run { data in
    _ = try? VOResourceXML.document(data)
    _ = try? VOResourceXML.oaiPage(data)
    _ = try? VOResourceXML.identify(data)
}
