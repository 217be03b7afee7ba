import SkyportCore

// The offer set and session documents written by hand, exactly as their `Encodable` form reads through
// `CanonicalJSON.encoder()` (keys sorted, nil optionals left out): they are what `POST /requests` answers, and
// encoding an offer set's rejections through `JSONEncoder` was a fifth of the broker's CPU under load.
// A field added to a view must be written here too (ExecutionViewsJSONTests compares both forms).

extension ExecutionViews.OfferSet: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("expires", expires)
            w.field("funnel", funnel)
            w.field("kind", kind)
            w.field("meta", meta)
            w.field("offers", offers)
            w.field("ranking", ranking)
            w.field("rejected", rejected)
            w.field("request", request)
            w.field("result", result)
        }
    }
}

extension ExecutionViews.Rejections: JSONWritable {
    /// Written once for each audience and list of rejections: most requests of a shape are turned down by the same
    /// facilities for the same reasons (`RejectionsKey`), and this was most of writing the answer to `POST /requests`.
    /// A list is known by its stored text, of which its rejections are a function.
    static let written = BoundedMemo<Written, [UInt8]>(capacity: 256, budget: 8 << 20)

    struct Written: Hashable, Sendable {
        var audience: ReasonAudience
        var text: DocumentBytes
    }

    func write(to json: inout JSONWriter) {
        let bytes = Self.written.value(Written(audience: audience, text: DocumentBytes(text: list.text))) {
            var w = JSONWriter(capacity: list.items.count * 256)
            writeEach(to: &w)
            return (w.bytes, size: w.bytes.count)
        }
        json.json(bytes)
    }

    /// Each `Rejection` as it writes itself, from the stored rejection.
    func writeEach(to json: inout JSONWriter) {
        json.array(rejections) { w, rejection in
            w.object { w in
                w.field("facility", rejection.facility.rawValue)
                w.key("reasons")
                w.array(rejection.reasons) { w, reason in
                    w.object { w in
                        w.field("code", reason.code.rawValue)
                        w.field("field", reason.field)
                        w.field("message", reason.message(for: audience))
                        w.field("offered", reason.offered)
                        w.field("requested", reason.requested)
                    }
                }
            }
        }
    }
}

extension ExecutionViews.Session: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("compute", compute)
            w.field("connectors", connectors)
            w.field("costs", costs)
            w.field("data", data)
            w.field("executable", executable)
            w.field("expires", expires)
            w.field("facility", facility)
            w.field("federated", federated)
            w.field("kind", kind)
            w.field("message", message)
            w.field("meta", meta)
            w.field("metrics", metrics)
            w.field("offerset", offerset)
            w.field("phase", phase.rawValue)
            w.field("progress", progress)
            w.field("results", results)
            w.field("schedule", schedule)
            w.field("staging", staging)
            w.field("storage", storage)
        }
    }
}

extension ExecutionViews.Meta: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("created", created)
            w.field("messages", messages)
            w.field("modified", modified)
            w.field("name", name)
            w.field("url", url)
            w.field("uuid", uuid)
        }
    }
}

extension ExecutionViews.MinMax: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("max", max)
            w.field("min", min)
        }
    }
}


extension ExecutionViews.Schedule: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("available", available)
            w.field("preparing", preparing)
            w.field("releasing", releasing)
        }
    }
}

extension ExecutionViews.Schedule.Span: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("duration", duration)
            w.field("start", start)
        }
    }
}

extension ExecutionViews.FacilityRef: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("id", id)
            w.field("name", name)
            w.field("url", url)
        }
    }
}

extension ExecutionViews.Connector: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("kind", kind)
            w.field("location", location)
            w.field("protocol", `protocol`)
            w.field("status", status)
        }
    }
}

extension ExecutionViews.Progress: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("message", message)
            w.field("phase", phase)
        }
    }
}

extension ExecutionViews.Result: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("href", href)
            w.field("id", id)
        }
    }
}

extension ExecutionViews.Federated: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("broker", broker)
            w.field("session", session)
        }
    }
}
