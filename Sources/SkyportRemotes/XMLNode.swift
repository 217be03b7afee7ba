import SkyportXML

/// libxml2 nodes (SkyportXML), not Foundation's XMLNode.
typealias XMLNode = SkyportXML.XMLNode
