/// The `urn:request-refused` messages of an offer set read as JSON: what a request said that the broker cannot honour,
/// each naming its field.
func refusedMessages(_ set: [String: Any]) -> [String] {
    ((set["meta"] as? [String: Any])?["messages"] as? [[String: Any]] ?? [])
        .filter { $0["kind"] as? String == "urn:request-refused" }.compactMap { $0["message"] as? String }
}
