#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for the tests: `otlp_receiver.py PORT OUT.jsonl`.

POST /v1/traces bodies are decoded as real OTLP protobuf (`ExportTraceServiceRequest`, from PyPI's
opentelemetry-proto) and every span is appended to OUT.jsonl as one JSON object: trace_id, span_id, parent (hex),
name, kind, the exporting service's `service.name` and `service.instance.id`, and the span's string attributes.
A body that is not such a message is answered 400 (and the exporter would say so in its log)."""
import http.server
import json
import sys
import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

port, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else None


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            return self.answer(404 if self.path != "/v1/traces" else 415, b"")
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception:
            return self.answer(400, b"")
        lines = []
        for rs in request.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    lines.append(json.dumps({
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                        "name": span.name, "kind": span.kind, "service": resource.get("service.name"),
                        "instance": resource.get("service.instance.id"),
                        "attributes": {a.key: value(a.value) for a in span.attributes},
                    }))
        with lock, open(out, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        self.answer(200, ExportTraceServiceResponse().SerializeToString())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
