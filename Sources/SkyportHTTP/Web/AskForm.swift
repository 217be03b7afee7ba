import Foundation
import SkyportBroker
import SkyportCore

/// The Ask page's form as an ExecutionBroker request document: what to run (a codemeta.json, a notebook or repository
/// URL, or a TAP query), the data (an ESAP basket, Rucio DIDs and URLs one a line) and the resources. The document is
/// then parsed as `POST /requests` parses one, so the page and the API understand a request the same way; this only
/// says which form field is at fault for what the form itself gets wrong.
struct AskForm: Sendable {
    var codemeta: String?
    var repository: String?
    var path: String?
    var ref: String?
    var tapQuery: String?
    var basket: String?
    var items: [String] = []
    var coresMin: String?, coresMax: String?, memoryMin: String?, memoryMax: String?
    var duration: String?
    var start: String?

    init(_ form: WebForm, codemeta: String?) {
        self.codemeta = codemeta
        repository = form["repository"]
        path = form["path"]
        ref = form["ref"]
        tapQuery = form["tap_query"]
        basket = form["basket"]
        items = (form["items"] ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        coresMin = form["cores_min"]
        coresMax = form["cores_max"]
        memoryMin = form["memory_min"]
        memoryMax = form["memory_max"]
        duration = form["duration"]
        start = form["start"]
    }

    /// The request document, or the form fields at fault.
    func document() throws -> JSONValue {
        var errors = FieldErrors()
        var doc: [String: JSONValue] = [:]
        let given = [codemeta != nil || repository != nil, tapQuery != nil].filter { $0 }.count
        if given == 0 {
            errors.add("what", "say what to run: a codemeta.json, a notebook or repository URL, or a TAP query")
        } else if given > 1 {
            errors.add("tap_query", "a TAP query runs on its own: leave the software fields empty, or the query")
        }
        if let codemeta {
            switch Result(catching: { try JSONValue.parse(Data(codemeta.utf8)) }) {
            case .success(let software) where software.objectValue != nil: doc["software"] = software
            case .success: errors.add("codemeta", "a codemeta.json is a JSON object")
            case .failure(let error): errors.add("codemeta", "is not JSON: \(Documents.describe(error))")
            }
        }
        if let repository {
            var executable: [String: JSONValue] = ["kind": .string("jupyter-notebook"), "repository": .string(repository)]
            if let path { executable["path"] = .string(path) }
            if let ref { executable["ref"] = .string(ref) }
            doc["executable"] = .object(executable)
        }
        if let tapQuery { doc["executable"] = .object(["kind": .string("tap-query"), "query": .string(tapQuery)]) }
        if let basket {
            switch Result(catching: { try JSONValue.parse(Data(basket.utf8)) }) {
            case .success(let value): doc["basket"] = value
            case .failure(let error): errors.add("basket", "is not JSON (an ESAP basket is a JSON list): \(Documents.describe(error))")
            }
        }
        if !items.isEmpty { doc["data"] = .array(items.map(Self.dataItem)) }
        var compute: [String: JSONValue] = [:]
        if let cores = range(coresMin, coresMax, "cores", &errors) { compute["cores"] = cores }
        if let memory = range(memoryMin, memoryMax, "memory", &errors) { compute["memory"] = memory }
        if !compute.isEmpty { doc["compute"] = .object(compute) }
        var requested: [String: JSONValue] = [:]
        if let duration {
            if let minutes = Int(duration), minutes > 0, minutes <= 60 * 24 * 366 {
                requested["duration"] = .string("PT\(minutes)M")
            } else {
                errors.add("duration", "'\(duration)' is not a number of minutes")
            }
        }
        if let start {
            if let date = Timestamp.parseCanonical(start.count == 16 ? start + ":00Z" : start + "Z") {
                // The earliest start; any time in the week after it will do.
                requested["start"] = .string(Timestamp.format(date) + "/P7D")
            } else {
                errors.add("start", "'\(start)' is not a time as YYYY-MM-DDTHH:MM (UTC)")
            }
        }
        if !requested.isEmpty { doc["schedule"] = .object(["requested": .object(requested)]) }
        try errors.check()
        return .object(doc)
    }

    /// A Rucio DID (`scope:name`) or a URL as a data item.
    static func dataItem(_ line: String) -> JSONValue {
        if !line.contains("://"), let colon = line.firstIndex(of: ":") {
            return .object([
                "kind": .string("rucio-data-resource"),
                "rucio": .object(["scope": .string(String(line[..<colon])), "object": .string(String(line[line.index(after: colon)...]))]),
            ])
        }
        return .object(["kind": .string("simple-data-resource"), "location": .string(line)])
    }

    func range(_ min: String?, _ max: String?, _ name: String, _ errors: inout FieldErrors) -> JSONValue? {
        var range: [String: JSONValue] = [:]
        for (text, end) in [(min, "min"), (max, "max")] {
            guard let text else { continue }
            guard let value = Int(text), value >= 0 else {
                errors.add("\(name)_\(end)", "'\(text)' is not a whole number")
                continue
            }
            range[end] = .number(Double(value))
        }
        return range.isEmpty ? nil : .object(range)
    }
}
