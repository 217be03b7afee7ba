import Foundation
import SkyportCore
import SkyportTestSupport
import Testing

/// The staging `postBuild` Skyport writes, run as repo2docker runs it (from the repository root), against the
/// rig's data server: sizes and checksums are verified, a bad item stops the build with a line naming it,
/// and the repository's own postBuild runs first and keeps its exit status.
@Suite(.enabled(if: TestPeers.run(BinderRig.available), "git and python3 are needed"))
struct BasketScriptTests {
    /// Runs the script for `items` in a fresh repository directory; returns exit status, output and the directory.
    func run(_ rig: BinderRig, _ items: [DataItem], original: String? = nil) async throws -> (Int32, String, URL) {
        try await offload { try Self.runBlocking(rig, items, original: original) }
    }

    static func runBlocking(_ rig: BinderRig, _ items: [DataItem], original: String?) throws -> (Int32, String, URL) {
        let repo = rig.root.appending(path: "repo-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: repo.appending(path: "binder"), withIntermediateDirectories: true)
        let files = BasketStaging.files(BasketStaging.plan(session: "s-1", items: items), directory: "binder", hasPostBuild: original != nil)
        if let original, let move = files.moveOriginal {
            try Data(original.utf8).write(to: repo.appending(path: move.to))
        }
        try Data(files.script.utf8).write(to: repo.appending(path: files.postBuild))
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = ["python3", files.postBuild]
        process.currentDirectoryURL = repo
        let text = try BinderRig.runCapturing(process)
        return (process.terminationStatus, text, repo)
    }

    func digest(_ algorithm: String, _ name: String) async throws -> String {
        try await offload { try Self.digestBlocking(algorithm, name) }
    }

    static func digestBlocking(_ algorithm: String, _ name: String) throws -> String {
        let content = try #require(BinderRig.files[name])
        let code = algorithm == "adler32"
            ? "import sys, zlib; print('%08x' % (zlib.adler32(sys.stdin.buffer.read()) & 0xffffffff))"
            : "import sys, hashlib; print(hashlib.new('\(algorithm)', sys.stdin.buffer.read()).hexdigest())"
        let file = FileManager.default.temporaryDirectory.appending(path: "digest-\(UUID().uuidString)")
        try Data(content.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try BinderRig.shell("python3 -c \"\(code)\" < \(file.path)", in: "/").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func verifiedItemsAreStagedWithAManifest() async throws {
        let rig = try await BinderRig.make()
        defer { rig.stop() }
        let items = [
            DataItem(kind: .url, name: "a.txt", url: rig.dataURL("a.txt"), size: Int64(BinderRig.files["a.txt"]!.utf8.count), checksum: "md5:\(try await digest("md5", "a.txt"))"),
            DataItem(kind: .url, name: "table.csv", url: rig.dataURL("table.csv"), checksum: "ADLER32:\(try await digest("adler32", "table.csv").uppercased())"),
            DataItem(kind: .rucio, name: "events.fits", did: "ESCAPE_CTA:events.fits", rses: ["CERN-EOS"]),
        ]
        let (status, output, repo) = try await run(rig, items, original: "#!/bin/sh\necho own > own.txt\n")
        #expect(status == 0, "\(output)")
        #expect(try String(contentsOf: repo.appending(path: "data/a.txt"), encoding: .utf8) == BinderRig.files["a.txt"])
        #expect(FileManager.default.fileExists(atPath: repo.appending(path: "own.txt").path))
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: repo.appending(path: "data/skyport-manifest.json"))) as? [String: Any])
        let staged = try #require(manifest["staged"] as? [[String: Any]])
        #expect(staged.map { $0["name"] as? String } == ["a.txt", "table.csv"])
        #expect(staged[0]["sha256"] as? String == (try await digest("sha256", "a.txt")))
        #expect((manifest["rucio"] as? [[String: Any]])?.first?["did"] as? String == "ESCAPE_CTA:events.fits")
        #expect(output.contains("skyport: staged a.txt (22 bytes, md5 verified)"), "\(output)")
    }

    @Test func aWrongChecksumOrSizeStopsTheBuildNamingTheItem() async throws {
        let rig = try await BinderRig.make()
        defer { rig.stop() }
        let wrongSum = [DataItem(kind: .url, name: "a.txt", url: rig.dataURL("a.txt"), checksum: "sha256:" + String(repeating: "0", count: 64))]
        let (s1, o1, r1) = try await run(rig, wrongSum)
        #expect(s1 == 1)
        #expect(o1.contains("skyport: basket item 'a.txt' (\(rig.dataURL("a.txt"))) could not be staged: sha256 checksum"), "\(o1)")
        #expect(!FileManager.default.fileExists(atPath: r1.appending(path: "data/a.txt").path))

        let wrongSize = [DataItem(kind: .url, name: "t.csv", url: rig.dataURL("table.csv"), size: 3)]
        let (s2, o2, _) = try await run(rig, wrongSize)
        #expect(s2 == 1)
        #expect(o2.contains("basket item 't.csv'") && o2.contains("the basket says 3"), "\(o2)")

        // An original postBuild without "#!" runs under a shell, as repo2docker's RUN line runs it.
        let (s4, o4, r4) = try await run(rig, [DataItem(kind: .url, name: "a.txt", url: rig.dataURL("a.txt"))], original: "echo plain > plain.txt\n")
        #expect(s4 == 0, "\(o4)")
        #expect(FileManager.default.fileExists(atPath: r4.appending(path: "plain.txt").path))

        let (s3, o3, _) = try await run(rig, [DataItem(kind: .url, name: "a.txt", url: rig.dataURL("a.txt"))], original: "#!/bin/sh\nexit 7\n")
        #expect(s3 == 7)
        #expect(o3.contains("the repository's own postBuild failed (exit code 7)"), "\(o3)")
    }
}
