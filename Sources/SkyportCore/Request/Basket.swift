import Foundation

/// What `Basket.normalise` made of ESAP shopping-basket items.
public struct BasketResult: Sendable, Hashable {
    /// One data item per basket item, in basket order.
    public var items: [DataItem]
    /// What was assumed or could not be used, each naming its item (`basket[2].archive`).
    public var notes: [RequestNote]
}

/// ESAP shopping-basket items (`esap/accounts` `EsapShoppingItem`): each is `{"item_data": "<JSON text>"}` (ESAP
/// stores the posted dict JSON-encoded, and old rows as a Python repr with single quotes) or the decoded dict
/// itself. Archives `rucio`, `astron_vo`, `vo_reg`, `zooniverse` and `multi_query` are understood; any other
/// archive is kept as `.other` with a note.
public enum Basket {
    /// The data items of a basket; throws `ValidationFailure` naming every bad item.
    public static func parse(_ items: JSONValue) throws -> [DataItem] {
        try normalise(items).items
    }

    /// The data items of a basket and the notes made on the way.
    public static func normalise(_ items: JSONValue) throws -> BasketResult {
        var reader = DocumentReader()
        let parsed = read(items, "basket", &reader)
        try reader.check()
        return BasketResult(items: parsed, notes: reader.notes)
    }

    static func read(_ value: JSONValue, _ field: String, _ r: inout DocumentReader) -> [DataItem] {
        guard let list = r.array(value, field) else { return [] }
        return list.enumerated().compactMap { i, entry in
            // A basket item is another service's row: anything in it the broker cannot read (a field of the wrong
            // type inside item_data included, which no schema can reach) is answered NO naming it, not refused.
            var itemReader = DocumentReader()
            let found = item(entry, "\(field)[\(i)]", &itemReader)
            r.notes += itemReader.notes
            r.refusals += itemReader.refusals + itemReader.errors.all.map { RequestNote(.warning, $0.field, $0.message) }
            return found
        }
    }

    // MARK: One item

    private static func item(_ entry: JSONValue, _ field: String, _ r: inout DocumentReader) -> DataItem? {
        guard var object = r.object(entry, field) else {
            if entry.isNull { r.error(field, "must be an object") }
            return nil
        }
        if let data = object["item_data"] {
            switch data {
            case .object(let decoded):
                object = decoded
            case .string(let text):
                guard let decoded = decode(text, "\(field).item_data", &r) else { return nil }
                object = decoded
            default:
                r.error("\(field).item_data", "must be a JSON string or an object")
                return nil
            }
        }
        let archive = r.string(object["archive"], "\(field).archive")?.lowercased()
        switch archive {
        case "rucio": return rucio(object, field, &r)
        case "astron_vo": return vo(object["record"], source: "basket:astron_vo", "\(field).record", &r)
        case "vo_reg":
            r.note(.info, "\(field).record", "vo_reg records have no column names; the URL was told by its scheme")
            return vo(object["record"], source: "basket:vo_reg", "\(field).record", &r)
        case "zooniverse": return zooniverse(object)
        case "multi_query": return other(object, source: "basket:multi_query")
        case let name?:
            r.note(.warning, "\(field).archive", "archive '\(name)' is not one Skyport knows; the item is kept, not fetched")
            return other(object, source: "basket:\(name)")
        case nil:
            r.note(.warning, "\(field).archive", "no archive named; the item is kept, not fetched")
            return other(object, source: "basket")
        }
    }

    /// `item_data` text: JSON, or failing that the Python repr older ESAP rows hold.
    private static func decode(_ text: String, _ field: String, _ r: inout DocumentReader) -> [String: JSONValue]? {
        // Skyport's own reader (nesting bounded): Foundation's JSONDecoder traps while describing the error of text nested
        // deeper than 512 levels (found by FuzzBasket: 513 '[' in an item_data would stop the broker).
        var value = try? JSONValue.parse(text)
        if value == nil, let converted = PythonLiteral.json(from: text) {
            value = try? JSONValue.parse(converted)
            if value != nil { r.note(.info, field, "read as a Python literal (single quotes), as older ESAP rows are") }
        }
        guard let value else {
            r.refuse(field, "is neither JSON nor a Python dict literal")
            return nil
        }
        guard let object = value.objectValue else {
            r.refuse(field, "must hold an object (a dict with an archive)")
            return nil
        }
        return object
    }

    // MARK: Archives

    private static func rucio(_ object: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        let key = object["record"] == nil && object["did"] != nil ? "did" : "record"
        let recordField = "\(field).\(key)"
        var item = DataItem(kind: .rucio, source: "basket:rucio")
        switch object[key] {
        case .string(let did)?:
            guard let (scope, name) = splitDID(did, recordField, &r) else { return nil }
            item.did = "\(scope):\(name)"
            item.name = name
        case .object(let record)?:
            if let did = r.string(record["did"], "\(recordField).did") {
                guard let (_, name) = splitDID(did, "\(recordField).did", &r) else { return nil }
                item.did = did
                item.name = name
            } else {
                let scope = r.string(record["scope"], "\(recordField).scope")
                let name = r.string(record["name"], "\(recordField).name")
                if scope == nil { r.refuse("\(recordField).scope", "is required (the Rucio scope)") }
                if name == nil { r.refuse("\(recordField).name", "is required (the Rucio name)") }
                guard let scope, let name else { return nil }
                item.did = "\(scope):\(name)"
                item.name = name
            }
            item.size = record["bytes"]?.intValue.map(Int64.init)
            if let adler = r.string(record["adler32"], "\(recordField).adler32") {
                item.checksum = "adler32:\(adler)"
            } else if let md5 = r.string(record["md5"], "\(recordField).md5") {
                item.checksum = "md5:\(md5)"
            }
            if let rses = record["rses"]?.objectValue {
                item.rses = rses.keys.sorted()
            } else if let rses = record["rses"]?.arrayValue {
                item.rses = rses.compactMap(\.stringValue)
            }
        default:
            r.refuse(recordField, "is required: the Rucio DID as {scope, name} or a 'scope:name' string")
            return nil
        }
        return item
    }

    /// A DID string as scope and name; exactly one colon, neither part empty.
    static func splitDID(_ did: String, _ field: String, _ r: inout DocumentReader) -> (String, String)? {
        let parts = did.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            let why = parts.count == 1 ? "has no scope" : "must have exactly one colon"
            r.refuse(field, "Rucio DID '\(did)' \(why): write it as scope:name")
            return nil
        }
        return (String(parts[0]), String(parts[1]))
    }

    /// `astron_vo` and `vo_reg`: an object with a `url`, or (vo_reg) a positional list of strings.
    private static func vo(_ record: JSONValue?, source: String, _ field: String, _ r: inout DocumentReader) -> DataItem? {
        var texts: [String] = []
        var item = DataItem(kind: .other, source: source)
        switch record {
        case .object(let o)?:
            texts = ["url", "access_url", "ivoid", "obs_publisher_did"].compactMap { o[$0]?.stringValue }
            item.name = ["name", "title", "target", "dataset"].lazy.compactMap { o[$0]?.stringValue }.first
            item.size = o["size"]?.intValue.map(Int64.init)
        case .array(let values)?:
            texts = values.compactMap(\.stringValue)
        default:
            r.refuse(field, "is required: the archive's record (an object or a list of values)")
            return nil
        }
        let ivoid = texts.first { $0.lowercased().hasPrefix("ivo://") }
        let url = texts.first { $0.lowercased().hasPrefix("http://") || $0.lowercased().hasPrefix("https://") }
        if let ivoid {
            item.kind = .ivoa
            item.name = item.name ?? ivoid
        } else if url != nil {
            item.kind = .url
        } else {
            r.note(.warning, field, "no URL or ivoid found; the item is kept, not fetched")
        }
        item.url = url
        return item
    }

    private static func zooniverse(_ object: [String: JSONValue]) -> DataItem {
        let text = { (key: String) in object[key].flatMap(DocumentReader.text(of:)) }
        var name = "zooniverse"
        switch (text("workflow_id"), text("project_id")) {
        case let (workflow?, project?): name += " workflow \(workflow) of project \(project)"
        case let (workflow?, nil): name += " workflow \(workflow)"
        case let (nil, project?): name += " project \(project)"
        case (nil, nil): break
        }
        if let category = text("category") { name += " (\(category))" }
        return DataItem(kind: .other, name: name, source: "basket:zooniverse")
    }

    /// Kept as it is: its `record.url` and `record.name`, if any.
    private static func other(_ object: [String: JSONValue], source: String) -> DataItem {
        let record = object["record"]?.objectValue ?? object
        return DataItem(
            kind: .other, name: record["name"]?.stringValue ?? record["title"]?.stringValue,
            url: record["url"]?.stringValue, source: source)
    }
}

/// Python dict literals (`{'a': 'b', 'c': None}`) rewritten as JSON, string by string, so that apostrophes inside
/// values survive (ESAP's zooniverse.py replaces every `'` with `"`, which breaks on `O'Brien`).
enum PythonLiteral {
    static func json(from text: String) -> String? {
        var out = ""
        var chars = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            switch c {
            case "'", "\"":
                guard let string = quoted(until: c, next) else { return nil }
                out += string
            case _ where c.isLetter:
                var word = String(c)
                while let d = next() {
                    if d.isLetter || d.isNumber || d == "_" { word.append(d) } else { pending = d; break }
                }
                switch word {
                case "None": out += "null"
                case "True": out += "true"
                case "False": out += "false"
                default: return nil
                }
            default:
                out.append(c)
            }
        }
        return out
    }

    /// The rest of a quoted Python string, as a JSON string.
    private static func quoted(until quote: Character, _ next: () -> Character?) -> String? {
        var out = "\""
        while let c = next() {
            switch c {
            case quote:
                return out + "\""
            case "\\":
                guard let e = next() else { return nil }
                switch e {
                case "'": out += "'"
                case "\"": out += "\\\""
                case "\\", "n", "t", "r", "b", "f", "u", "/": out += "\\\(e)"
                case "x":
                    guard let h1 = next(), let h2 = next(), h1.isHexDigit, h2.isHexDigit else { return nil }
                    out += "\\u00\(h1)\(h2)"
                default: out += "\\\\\(e)"
                }
            case "\"":
                out += "\\\""
            case "\n":
                out += "\\n"
            default:
                out.append(c)
            }
        }
        return nil
    }
}
