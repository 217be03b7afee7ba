import Foundation

/// The `data[]` part of a request: Simple, S3, Rucio, IVOA and SKAO data resources. The abstract data kind of the
/// 2026-06 templates is a placeholder the user must replace, so it is an error.
extension ExecutionRequestParser {
    static func readData(_ value: JSONValue?, _ field: String, _ r: inout DocumentReader) -> [DataItem] {
        guard let list = r.array(value, field) else { return [] }
        return list.enumerated().compactMap { i, item in dataItem(item, "\(field)[\(i)]", &r) }
    }

    private static func dataItem(_ value: JSONValue, _ field: String, _ r: inout DocumentReader) -> DataItem? {
        guard let o = r.object(value, field) else {
            if value.isNull { r.error(field, "must be an object") }
            return nil
        }
        let name = r.string(o["meta"]?["name"], "\(field).meta.name") ?? r.string(o["name"], "\(field).name")
        let kindKey = o["kind"] == nil && o["type"] != nil ? "type" : "kind"
        let kindField = "\(field).\(kindKey)"
        let kindText = r.string(o[kindKey], kindField)
        var kind = kindText.map(KindName.of)
        if kind == nil {
            kind = inferredKind(o)
            guard let kind else {
                r.refuse(kindField, "is required: the kind of data resource, such as simple-data-resource")
                return nil
            }
            r.note(.info, kindField, "no kind given; read as \(kind) from its fields")
        }
        var item: DataItem?
        switch kind {
        case "simple-data-resource":
            item = simple(o, field, &r)
        case "s3-data-resource":
            item = s3(o, field, &r)
        case "rucio-data-resource":
            item = rucio(o, field, &r)
        case "ivoa-data-resource":
            item = ivoa(o, field, &r)
        case "skao-data-resource":
            item = skao(o, field, &r)
        case "abstract-data-resource":
            r.refuse(kindField, "is the abstract placeholder '\(kindText ?? "")': replace it with a concrete data "
                + "resource, such as a simple-data-resource with a location")
        default:
            r.note(.warning, kindField, "unknown data kind '\(kindText ?? "")'; the item is kept, not fetched")
            item = DataItem(kind: .other, url: o["location"]?.stringValue)
        }
        guard var found = item else { return nil }
        if let name { found.name = name }
        found.source = "executionbroker"
        return found
    }

    private static func inferredKind(_ o: [String: JSONValue]) -> String? {
        if o["skao"] != nil { return "skao-data-resource" }
        if o["rucio"] != nil { return "rucio-data-resource" }
        if o["ivoa"] != nil { return "ivoa-data-resource" }
        if o["bucket"] != nil { return "s3-data-resource" }
        if o["location"] != nil { return "simple-data-resource" }
        return nil
    }

    // MARK: Kinds

    private static func simple(_ o: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        guard o["location"] != nil else {
            r.refuse("\(field).location", "is required: the URL to download the data from")
            return nil
        }
        guard var item = url(o["location"], "\(field).location", &r).map({ DataItem(kind: .url, url: $0) }) else { return nil }
        // Skyport's extensions (another Skyport passes them on): the size in bytes and an `algorithm:value` checksum.
        if let size = r.int(o["size"], "\(field).size") {
            if size < 0 { r.refuse("\(field).size", "must not be negative") } else { item.size = Int64(size) }
        }
        if let checksum = r.string(o["checksum"], "\(field).checksum") {
            if checksum.contains(":") { item.checksum = checksum } else { r.refuse("\(field).checksum", "'\(checksum)' is not algorithm:value, such as md5:9e107d9d…") }
        }
        return item
    }

    /// An S3 object; its URL is the path-style `endpoint/bucket/object`.
    private static func s3(_ o: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        let endpoint = url(o["endpoint"], "\(field).endpoint", &r)
        let bucket = r.string(o["bucket"], "\(field).bucket")
        let object = r.string(o["object"], "\(field).object")
        if o["endpoint"] == nil { r.refuse("\(field).endpoint", "is required: the S3 service's address") }
        if bucket == nil { r.refuse("\(field).bucket", "is required: the bucket's name") }
        guard var base = endpoint, let bucket else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        let path = object.map { "\(bucket)/\($0)" } ?? bucket
        return DataItem(kind: .s3, name: object ?? bucket, url: "\(base)/\(path)")
    }

    /// `rucio{endpoint, scope, object, type}`; the EP note's `domain` and Rucio's `name` are read as scope and object.
    private static func rucio(_ o: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        let blockField = "\(field).rucio"
        guard let block = r.object(o["rucio"], blockField) else {
            if o["rucio"] == nil { r.refuse(blockField, "is required: the Rucio scope and object") }
            return nil
        }
        let scopeKey = block["scope"] == nil && block["domain"] != nil ? "domain" : "scope"
        let objectKey = block["object"] == nil && block["name"] != nil ? "name" : "object"
        let scope = r.string(block[scopeKey], "\(blockField).\(scopeKey)")
        let object = r.string(block[objectKey], "\(blockField).\(objectKey)")
        if scope == nil { r.refuse("\(blockField).scope", "is required: the Rucio scope") }
        if object == nil { r.refuse("\(blockField).object", "is required: the Rucio object name") }
        if let scope, scope.contains(":") {
            r.refuse("\(blockField).\(scopeKey)", "'\(scope)' must not hold a colon: give the scope and object apart")
            return nil
        }
        guard let scope, let object else { return nil }
        if let type = r.string(block["type"], "\(blockField).type"), !["FILE", "CONTAINER", "DATASET"].contains(type.uppercased()) {
            r.refuse("\(blockField).type", "must be FILE, CONTAINER or DATASET (got \(type))")
        }
        let replicas = r.array(block["replicas"], "\(blockField).replicas") ?? []
        let rses = replicas.compactMap { $0["rse"]?.stringValue ?? $0["rsename"]?.stringValue }
        return DataItem(kind: .rucio, name: object, did: "\(scope):\(object)", rses: unique(rses))
    }

    /// `ivoa{ivoid, obscore{access_url…}, datalink{access_url…}}`: the DataLink row's URL is the file itself, so it
    /// is preferred over ObsCore's (often a DataLink service).
    private static func ivoa(_ o: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        let blockField = "\(field).ivoa"
        guard let block = r.object(o["ivoa"], blockField) else {
            if o["ivoa"] == nil { r.refuse(blockField, "is required: the IVOA identifier and metadata") }
            return nil
        }
        guard let ivoid = r.string(block["ivoid"], "\(blockField).ivoid") else {
            r.refuse("\(blockField).ivoid", "is required: the IVOA identifier (ivo://…)")
            return nil
        }
        let obscore = r.object(block["obscore"], "\(blockField).obscore")
        let datalink = r.object(block["datalink"], "\(blockField).datalink")
        let link = url(datalink?["access_url"], "\(blockField).datalink.access_url", &r)
        let access = url(obscore?["access_url"], "\(blockField).obscore.access_url", &r)
        let size = datalink?["content_length"]?.intValue.map(Int64.init)
        return DataItem(kind: .ivoa, name: ivoid, url: link ?? access, size: size)
    }

    /// `skao{namespace, objectname, datasize, checksum, replicas[{rsename, dataurl}]}`: a Rucio DID in the SKA data
    /// lake, with its known replicas.
    private static func skao(_ o: [String: JSONValue], _ field: String, _ r: inout DocumentReader) -> DataItem? {
        let blockField = "\(field).skao"
        guard let block = r.object(o["skao"], blockField) else {
            if o["skao"] == nil { r.refuse(blockField, "is required: the namespace, object name and replicas") }
            return nil
        }
        let namespace = r.string(block["namespace"], "\(blockField).namespace")
        let objectName = r.string(block["objectname"], "\(blockField).objectname")
        if namespace == nil { r.refuse("\(blockField).namespace", "is required: the data lake namespace (Rucio scope)") }
        if objectName == nil { r.refuse("\(blockField).objectname", "is required: the object name") }
        guard let namespace, let objectName else { return nil }
        var item = DataItem(kind: .rucio, name: objectName, did: "\(namespace):\(objectName)")
        if let size = r.int(block["datasize"], "\(blockField).datasize") {
            if size < 0 { r.refuse("\(blockField).datasize", "must not be negative") } else { item.size = Int64(size) }
        }
        if let checksum = r.object(block["checksum"], "\(blockField).checksum"),
            let type = r.string(checksum["type"], "\(blockField).checksum.type"),
            let value = r.string(checksum["value"], "\(blockField).checksum.value")
        {
            item.checksum = "\(type.lowercased()):\(value)"
        }
        let replicas = r.array(block["replicas"], "\(blockField).replicas") ?? []
        item.rses = unique(replicas.enumerated().compactMap { i, replica in
            r.string(replica["rsename"], "\(blockField).replicas[\(i)].rsename")
        })
        item.url = o["ivoa"]?["datalink"]?["access_url"]?.stringValue
        return item
    }

    private static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
