import Foundation
import SkyportCore
import Testing

@Suite struct ServerSentEventsTests {
    @Test func eventsSplitAcrossAnyChunkingAndLineEnding() throws {
        let stream = ":keepalive\n\ndata: {\"phase\": \"waiting\"}\r\n\r\ndata: a\ndata: b\n\nevent: x\nid: 3\nretry: 10\ndata: {\"phase\":\"Building\"}\r\r"
        let bytes = Array(stream.utf8)
        for size in [1, 2, 3, 7, bytes.count] {
            var parser = ServerSentEvents()
            var events: [String] = []
            var i = 0
            while i < bytes.count {
                events += try parser.feed(bytes[i..<min(i + size, bytes.count)])
                i += size
            }
            #expect(events == [#"{"phase": "waiting"}"#, "a\nb", #"{"phase":"Building"}"#], "chunk size \(size)")
        }
    }

    @Test func anEndlessLineIsAnError() throws {
        var parser = ServerSentEvents()
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 16)
        #expect(throws: ServerSentEvents.LineTooLong.self) {
            for _ in 0...(ServerSentEvents.maxLine >> 16) { _ = try parser.feed(chunk) }
        }
    }
}

@Suite struct BinderEventTests {
    @Test func fieldsAreReadAndPhasesLowerCased() {
        let e = BinderEvent(data: #"{"phase": "Building", "message": "Step 1/10\n", "imageName": "r/x:1"}"#)
        #expect(e.phase == "building")
        #expect(e.text == "Step 1/10")
        #expect(e.imageName == "r/x:1")
        #expect(BinderEvent(data: "not json").phase == "unknown")
        #expect(BinderEvent(data: #"{"message": "Picked Git content provider.\n"}"#).phase == nil)
    }

    /// The `ready` event as `binderhub.md` §1.4 recorded it from a real launch.
    @Test func readyGivesTheServerAndToken() {
        let e = BinderEvent(data: #"""
            {"phase":"ready","message":"server running at http://127.0.0.1:18000/user/tmp-demo-pl1csygo/\n","image":"file-3a:87c8",
             "repo_url":"file://demo.git","token":"eGGXXmTlS9am4BKC3_LzJQ","binder_ref_url":"file://demo.git",
             "binder_launch_host":"http://127.0.0.1:18585/","binder_request":"v2/git/x/main","binder_persistent_request":"v2/git/x/87c8",
             "binder_client_ip":"127.0.0.1","url":"http://127.0.0.1:18000/user/tmp-demo-pl1csygo/"}
            """#)
        #expect(BinderStream.verdict(e, recent: []) == .ready(url: "http://127.0.0.1:18000/user/tmp-demo-pl1csygo/", token: "eGGXXmTlS9am4BKC3_LzJQ"))
        // build_only: ready without a server is no launch.
        let built = BinderEvent(data: #"{"phase":"ready","message":"Done! Image built\n","imageName":"x"}"#)
        guard case .failed? = BinderStream.verdict(built, recent: []) else { Issue.record("build-only ready accepted"); return }
    }

    @Test func failuresAreClassified() {
        let rate = BinderEvent(data: #"{"phase": "failed", "status_code": 429, "message": "Rate limit exceeded. Try again in 3600 seconds.\n"}"#)
        #expect(BinderStream.verdict(rate, recent: []) == .busy(message: "Rate limit exceeded. Try again in 3600 seconds.", retryAfter: 3600))
        let quota = BinderEvent(data: #"{"phase": "failed", "message": "Too many users on this BinderHub! Try again soon.\n"}"#)
        #expect(BinderStream.verdict(quota, recent: []) == .busy(message: "Too many users on this BinderHub! Try again soon.", retryAfter: 30))
        let gh = BinderEvent(data: #"{"phase": "failed", "message": "Error resolving ref for gh:a/b/c: GitHub rate limit exceeded. Try again in 5 minutes.\n"}"#)
        #expect(BinderStream.verdict(gh, recent: []) == .busy(message: "Error resolving ref for gh:a/b/c: GitHub rate limit exceeded. Try again in 5 minutes.", retryAfter: 300))
        let accept = BinderEvent(data: #"{"phase": "failed", "status_code": 400, "message": "Missing Accept header: text/event-stream\n"}"#)
        #expect(BinderStream.verdict(accept, recent: []) == .failed(message: "BinderHub build failed (status 400): Missing Accept header: text/event-stream"))
        // The bare failed event after a failed build: the log before it says why, the staging line first.
        let bare = BinderEvent(data: #"{"phase": "failed"}"#)
        let recent = ["skyport: basket item 'a.txt' (http://h/a.txt) could not be staged: HTTP 404 Not Found", "Error during build: exit 1"]
        #expect(BinderStream.verdict(bare, recent: recent)
            == .failed(message: "BinderHub build failed: skyport: basket item 'a.txt' (http://h/a.txt) could not be staged: HTTP 404 Not Found"))
        #expect(BinderStream.verdict(bare, recent: []) == .failed(message: "BinderHub build failed without a message"))
        #expect(BinderStream.verdict(BinderEvent(data: #"{"phase": "building"}"#), recent: []) == nil)
    }
}

@Suite struct BinderSourceTests {
    @Test func githubRepositoriesUseTheGhProviderAndOthersGit() {
        #expect(BinderSource.direct(repository: "https://github.com/binder-examples/conda.git", ref: nil).buildURL(binderhub: "https://mybinder.org/")
            == "https://mybinder.org/build/gh/binder-examples/conda/HEAD")
        #expect(BinderSource.direct(repository: "https://github.com/o/r", ref: "feature/x").buildURL(binderhub: "http://b")
            == "http://b/build/gh/o/r/feature/x")
        #expect(BinderSource.direct(repository: "https://gitlab.com/g/r.git", ref: "main").buildURL(binderhub: "http://b")
            == "http://b/build/git/https%3A%2F%2Fgitlab.com%2Fg%2Fr.git/main")
        #expect(BinderSource.git(url: "git://127.0.0.1:9418/staging.git", ref: "abc").spec == "git%3A%2F%2F127.0.0.1%3A9418%2Fstaging.git/abc")
    }

    @Test func theUserLinkCarriesPathAndToken() {
        #expect(BinderAccess.link(server: "http://h/user/u-1/", path: "notebooks/My Analysis.ipynb", token: "t_-1")
            == "http://h/user/u-1/lab/tree/notebooks/My%20Analysis.ipynb?token=t_-1")
        #expect(BinderAccess.link(server: "http://h/user/u-1", path: nil, token: nil) == "http://h/user/u-1/")
        #expect(BinderAccess.hubUser(server: "http://h:8000/prefix/user/u-1/")! == ("http://h:8000/prefix/", "u-1"))
        #expect(BinderAccess.hubUser(server: "http://h/nothing/") == nil)
    }
}

@Suite struct BasketStagingTests {
    @Test func itemsBecomeDownloadsRucioListingsOrReasons() {
        let items = [
            DataItem(kind: .url, name: "a.fits", url: "https://archive.example/a.fits", size: 10, checksum: "MD5:ABC"),
            DataItem(kind: .url, name: "a.fits", url: "https://archive.example/other/a.fits"),
            DataItem(kind: .url, name: "../../etc/passwd", url: "https://archive.example/p"),
            DataItem(kind: .url, url: "https://user:secret@archive.example/x.fits"),
            DataItem(kind: .rucio, name: "events.fits", did: "ESCAPE_CTA:events.fits", rses: ["CERN-EOS"]),
            DataItem(kind: .s3, name: "bucket/key", url: "s3://bucket/key"),
            DataItem(kind: .url, url: "ftp://old.example/y"),
        ]
        let plan = BasketStaging.plan(session: "s1", items: items)
        #expect(plan.downloads.map(\.name) == ["a.fits", "a-2.fits", "_.._etc_passwd"])
        #expect(plan.downloads[0].checksum == "md5:abc")
        #expect(plan.rucio.map(\.did) == ["ESCAPE_CTA:events.fits"])
        #expect(plan.notStaged.count == 3)
        #expect(plan.notStaged.contains { $0.note.contains("credentials") && $0.url == nil })
        let script = BasketStaging.files(plan, directory: "", hasPostBuild: false).script
        #expect(!script.contains("secret"))
        #expect(BasketStaging.plan(session: "s", items: []).isEmpty)
    }

    @Test func theScriptGoesWhereRepo2dockerLooksAndKeepsTheOriginal() {
        #expect(BasketStaging.configDirectory(existing: ["binder", "src"]) == "binder")
        #expect(BasketStaging.configDirectory(existing: [".binder", "binder"]) == ".binder")
        #expect(BasketStaging.configDirectory(existing: ["src"]) == "")
        let plan = BasketStaging.plan(session: "s", items: [DataItem(kind: .url, url: "https://h/a")])
        let files = BasketStaging.files(plan, directory: "binder", hasPostBuild: true)
        #expect(files.postBuild == "binder/postBuild")
        #expect(files.moveOriginal?.from == "binder/postBuild")
        #expect(files.moveOriginal?.to == "binder/postBuild.skyport-original")
        #expect(files.script.hasPrefix("#!/usr/bin/env python3\n"))
        #expect(files.script.contains(#"ORIGINAL = "postBuild.skyport-original""#))
        // Same plan, same script: a retried launch makes the same commit content.
        #expect(BasketStaging.files(plan, directory: "binder", hasPostBuild: true) == files)
    }
}
