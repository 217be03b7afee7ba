#!/usr/bin/env python3
"""A stand-in VOSI service for Skyport's capability-refresh tests.  Python 3 standard library only.

Usage: python3 vosi_standin.py CAPABILITIES.xml
Serves on 127.0.0.1 (a free port, printed alone on the first line of stdout) and exits when its standard
input closes, so it ends with the test process that started it.

  GET /tap/capabilities      the capabilities document given (a TAP service's VOSI capabilities)
  GET /tap/availability      VOSI availability: available
  GET /vosi-only/capabilities  a capabilities document with nothing executable (only VOSI capabilities)
  GET /html/capabilities     200 with an HTML page (a portal in front of the service)
  GET /broken/capabilities   500
  GET /moved/capabilities    302 to /tap/capabilities (Skyport does not follow redirects of a refresh)
  anything else              404
"""
import http.server, os, sys, threading

CAPABILITIES = open(sys.argv[1], "rb").read()
VOSI_ONLY = (b'<?xml version="1.0"?><vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
             b'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             b'<capability standardID="ivo://ivoa.net/std/VOSI#capabilities"><interface xsi:type="vs:ParamHTTP" role="std">'
             b'<accessURL use="full">http://vosi.example.org/capabilities</accessURL></interface></capability>'
             b'</vosi:capabilities>')
AVAILABLE = (b'<?xml version="1.0"?><avail:availability xmlns:avail="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
             b'<avail:available>true</avail:available></avail:availability>')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/tap/capabilities":
            return self.reply(200, CAPABILITIES, "text/xml")
        if path == "/tap/availability":
            return self.reply(200, AVAILABLE, "text/xml")
        if path == "/vosi-only/capabilities":
            return self.reply(200, VOSI_ONLY, "text/xml")
        if path == "/html/capabilities":
            return self.reply(200, b"<!DOCTYPE html><html><body>Welcome to our portal</body></html>", "text/html")
        if path == "/broken/capabilities":
            return self.reply(500, b"Internal Server Error: database is down")
        if path == "/moved/capabilities":
            return self.reply(302, b"", headers=[("Location", "/tap/capabilities")])
        self.reply(404, b"not here")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
server.serve_forever()
