import Foundation
import Testing
import SkyportRemotes
import SkyportXML

@Suite struct XMLDocumentTests {
    static let uws = "http://www.ivoa.net/xml/UWS/v1.0"
    static let xlink = "http://www.w3.org/1999/xlink"
    static let sample = Data("""
        <?xml version="1.0"?>
        <ns0:job xmlns:ns0="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xl="http://www.w3.org/1999/xlink" version="1.1">
          <ns0:jobId>j1</ns0:jobId>
          <ns0:results>
            <ns0:result id="a" xl:href="http://x/a" size="3"/>
            <ns0:result id="b" xl:href="http://x/b"/>
          </ns0:results>
          <info xmlns="urn:other"><deep ns0:attr="v">text &amp; more</deep></info>
        </ns0:job>
        """.utf8)

    @Test func nodeHelpersResolveNamespacesWhateverThePrefix() throws {
        let doc = try XMLDoc(data: Self.sample)
        let root = try #require(doc.root)
        #expect(root.name == "job")
        #expect(root.qualifiedName == "ns0:job")
        #expect(root.namespaceURI == Self.uws)
        #expect(root.attribute("version") == "1.1")
        #expect(root.children.map(\.name) == ["jobId", "results", "info"])
        let results = root.children[1].children
        #expect(results.map { $0.attribute("href", namespaceURI: Self.xlink) } == ["http://x/a", "http://x/b"])
        #expect(results[0].attribute("href") == nil)   // the unprefixed attribute does not exist
        #expect(results[0].line == 5)
        let deep = try #require(root.children[2].children.first)
        #expect(deep.namespaceURI == "urn:other")
        #expect(deep.attribute("attr", namespaceURI: Self.uws) == "v")
        #expect(deep.text == "text & more")
    }

    @Test func xpathUsesNamespacesRegisteredPerQuery() throws {
        let doc = try XMLDoc(data: Self.sample)
        let ns = ["u": Self.uws, "xlink": Self.xlink]
        #expect(try doc.strings("//u:result/@xlink:href", namespaces: ns) == ["http://x/a", "http://x/b"])
        #expect(try doc.strings("/u:job/u:jobId", namespaces: ns) == ["j1"])
        #expect(try doc.strings("count(//u:result)", namespaces: ns) == ["2"])
        #expect(try doc.strings("//*[local-name()='deep']") == ["text & more"])
        let results = try doc.nodes("//u:result", namespaces: ns)
        #expect(results.map { $0.attribute("id") } == ["a", "b"])
        #expect(try doc.strings("@size", from: results[0]) == ["3"])
        #expect(try doc.nodes("//u:nothing", namespaces: ns).isEmpty)
        #expect(try doc.nodes("/*/namespace::*").isEmpty)   // namespace nodes are not wrapped as XMLNode
        #expect(try doc.strings("/*/namespace::*").contains(Self.xlink))
        let other = try XMLDoc(data: Data("<a/>".utf8))
        #expect(throws: XMLReadError("XPath context node belongs to another document")) { try doc.nodes("*", from: other.root) }
    }

    @Test func xpathErrorsThrowInsteadOfCrashing() throws {
        let doc = try XMLDoc(data: Self.sample)
        let undeclared = #expect(throws: XMLReadError.self) { try doc.nodes("//ri:Resource") }
        #expect(undeclared?.message.contains("XPath //ri:Resource") == true)
        #expect(throws: XMLReadError.self) { try doc.strings("//u:result[", namespaces: ["u": Self.uws]) }
    }

    @Test func malformedXMLGivesLibxml2MessageAndLine() {
        let error = #expect(throws: XMLReadError.self) { try XMLDoc(data: Data("<a>\n<b></a>".utf8)) }
        #expect(error?.line == 2)
        #expect(error?.message.contains("mismatch") == true, "\(String(describing: error))")
        #expect(throws: XMLReadError("empty document")) { try XMLDoc(data: Data()) }
    }

    @Test func undeclaredPrefixIsAnError() {
        let error = #expect(throws: XMLReadError.self) { try XMLDoc(data: Data("<a><x:b/></a>".utf8)) }
        #expect(error?.message.contains("prefix") == true)
    }

    @Test func sizeCapRefusesBeforeParsing() {
        let big = Data(("<a>" + String(repeating: "x", count: 2_000) + "</a>").utf8)
        let error = #expect(throws: XMLReadError.self) { try XMLDoc(data: big, maxBytes: 1_000) }
        #expect(error?.message.contains("exceeds the 1000-byte limit") == true)
        #expect((try? XMLDoc(data: big, maxBytes: 4_000)) != nil)
    }

    @Test func entityDeclarationsAreRefused() throws {
        for text in [TestDocuments.billionLaughs, TestDocuments.externalEntity, #"<!DOCTYPE a [<!ENTITY x "y">]><a/>"#] {
            let error = #expect(throws: XMLReadError.self) { try XMLDoc(data: Data(text.utf8)) }
            #expect(error.map { TestDocuments.leaksPasswd($0.description) } == false)
        }
        // A DOCTYPE without entity declarations is fine.
        #expect(try XMLDoc(data: Data("<!DOCTYPE a [<!ELEMENT a EMPTY>]><a/>".utf8)).root?.name == "a")
    }
}

/// Hostile and broken documents shared by the XML test suites.
enum TestDocuments {
    static let billionLaughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [
         <!ENTITY lol "lol">
        \((1...9).map { n in " <!ENTITY lol\(n) \"\(String(repeating: "&lol\(n == 1 ? "" : String(n - 1));", count: 10))\">" }.joined(separator: "\n"))
        ]>
        <uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"><uws:jobId>&lol9;</uws:jobId><uws:phase>PENDING</uws:phase></uws:job>
        """
    static let externalEntity = """
        <?xml version="1.0"?>
        <!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
        <uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"><uws:jobId>&e;</uws:jobId><uws:phase>PENDING</uws:phase></uws:job>
        """

    /// True when `text` contains a line of /etc/passwd (the target of the external entity).
    static func leaksPasswd(_ text: String) -> Bool {
        let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? "root:x:0:0"
        return passwd.split(separator: "\n").contains { text.contains($0) } || text.contains("root:")
    }
}
