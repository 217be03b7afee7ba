import Foundation
import Testing
@testable import SkyportCore

@Suite(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
struct BasketSampleTests {
    static func examples() throws -> JSONValue {
        try TestYAML.load(SharedSamples.basket.appendingPathComponent("esap-basket-examples.json"))
    }

    /// The stored cart: one JSON-encoded rucio row and one Python-repr zooniverse row.
    @Test func storedShoppingCart() throws {
        let cart = try #require(try Self.examples()["user_profile_GET_response_envelope"]?["results"]?.arrayValue?.first?["shopping_cart"])
        let result = try Basket.normalise(cart)
        #expect(result.items == [
            DataItem(kind: .rucio, name: "gammapy-data-1.0.tar", did: "ESCAPE_CTA_TEST:gammapy-data-1.0.tar", source: "basket:rucio"),
            DataItem(kind: .other, name: "zooniverse project 1234 (subjects)", source: "basket:zooniverse"),
        ])
        #expect(result.notes.map(\.field) == ["basket[1].item_data"])
    }

    /// Every per-archive shape the reconstructed examples hold, in the file's order.
    @Test func everyArchive() throws {
        let byArchive = try #require(try Self.examples()["items_by_archive"]?.objectValue)
        let order = ["rucio", "astron_vo", "vo_reg", "zooniverse_project", "zooniverse_workflow", "multi_query", "apertif", "samp"]
        let items = try Basket.normalise(.array(order.compactMap { byArchive[$0] }))
        #expect(items.items.map(\.kind) == [.rucio, .url, .ivoa, .other, .other, .other, .other, .other])
        #expect(items.items.map(\.source) == [
            "basket:rucio", "basket:astron_vo", "basket:vo_reg", "basket:zooniverse", "basket:zooniverse",
            "basket:multi_query", "basket:apertif", "basket:samp",
        ])
        #expect(items.items[1].url == "https://vo.astron.nl/getproduct/...fits")
        #expect(items.items[1].name == "M51")
        #expect(items.items[1].size == 123_456)
        #expect(items.items[2].name == "ivo://example/obs/123")
        #expect(items.items[2].url == "https://example.org/data/123.fits")
        #expect(items.items[4].name == "zooniverse workflow 5678 of project 1234 (subjects)")
        #expect(items.items[5].url == "https://...")
        let warnings = items.notes.filter { $0.level == .warning }.map(\.field)
        #expect(warnings == ["basket[6].archive", "basket[7].archive"])
    }
}

@Suite struct BasketTests {
    static func fields(_ text: String) -> [String] {
        do {
            _ = try Basket.parse(requestJSON(text))
            return []
        } catch let failure as ValidationFailure {
            return failure.errors.map(\.field)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func doubleEncodedItemData() throws {
        let items = try Basket.parse(requestJSON(#"[{"item_data": "{\"archive\": \"rucio\", \"record\": {\"scope\": \"S\", \"name\": \"f.fits\", \"bytes\": 10, \"adler32\": \"0cc737eb\", \"rses\": {\"PIC\": [], \"DESY\": []}}}"}]"#))
        #expect(items == [DataItem(kind: .rucio, name: "f.fits", did: "S:f.fits", rses: ["DESY", "PIC"], size: 10, checksum: "adler32:0cc737eb", source: "basket:rucio")])
    }

    @Test func pythonReprKeepsApostrophesAndLiterals() throws {
        let text = #"{'archive': 'multi_query', 'record': {'name': "O'Brien's field", 'url': 'https://x.org/a', 'level': None, 'ok': True}}"#
        let items = try Basket.parse(.array([.object(["item_data": .string(text)])]))
        #expect(items == [DataItem(kind: .other, name: "O'Brien's field", url: "https://x.org/a", source: "basket:multi_query")])
    }

    @Test func decodedItemsAreAcceptedToo() throws {
        let items = try Basket.parse(requestJSON(#"[{"archive": "rucio", "record": "SCOPE:name"}, {"item_data": {"archive": "astron_vo", "record": {"url": "https://a/b"}}}]"#))
        #expect(items.map(\.did) == ["SCOPE:name", nil])
        #expect(items.map(\.url) == [nil, "https://a/b"])
    }

    @Test(arguments: [
        (#"[{"archive": "rucio", "record": "gammapy-data-1.0.tar"}]"#, ["basket[0].record"]),
        (#"[{"archive": "rucio", "record": {"did": "a:b:c"}}]"#, ["basket[0].record.did"]),
        (#"[{"archive": "rucio", "record": {"name": "x"}}]"#, ["basket[0].record.scope"]),
        (#"[{"archive": "rucio"}]"#, ["basket[0].record"]),
        (#"[{"item_data": "{not json"}]"#, ["basket[0].item_data"]),
        (#"[{"item_data": "{'archive': 'x', 'f': undefined}"}]"#, ["basket[0].item_data"]),
        (#"[{"item_data": "[1, 2]"}]"#, ["basket[0].item_data"]),
        (#"[{"item_data": 5}]"#, ["basket[0].item_data"]),
        (#"[{"archive": "astron_vo"}]"#, ["basket[0].record"]),
        (#"["text", null]"#, ["basket[0]", "basket[1]"]),
        (#"{"archive": "rucio"}"#, ["basket"]),
        (#"[{"archive": "rucio", "record": "nocolon"}, {"archive": "rucio", "record": "ok:1"}, {"item_data": "{"}]"#, ["basket[0].record", "basket[2].item_data"]),
    ])
    func errorsNameTheItem(text: String, fields: [String]) {
        #expect(Self.fields(text) == fields)
    }

    @Test func didWithoutColonSaysSo() {
        #expect(throws: ValidationFailure([FieldError("basket[0].record", "Rucio DID 'gammapy-data-1.0.tar' has no scope: write it as scope:name")])) {
            try Basket.parse(requestJSON(#"[{"archive": "rucio", "record": "gammapy-data-1.0.tar"}]"#))
        }
    }

    @Test func unknownOrMissingArchiveIsKept() throws {
        let result = try Basket.normalise(requestJSON(#"[{"archive": "samp", "record": {"url": "https://a/b"}}, {"record": {}}]"#))
        #expect(result.items.map(\.kind) == [.other, .other])
        #expect(result.items.first?.url == "https://a/b")
        #expect(result.notes.map(\.field) == ["basket[0].archive", "basket[1].archive"])
    }

    @Test func pythonLiteralConversion() {
        #expect(PythonLiteral.json(from: #"{'a': 'it\'s', 'b': "say \"hi\"", 'c': [None, True, False, 1.5]}"#)
            == #"{"a": "it's", "b": "say \"hi\"", "c": [null, true, false, 1.5]}"#)
        #expect(PythonLiteral.json(from: "{'a': 'unterminated}") == nil)
        #expect(PythonLiteral.json(from: "{'a': datetime}") == nil)
    }
}
