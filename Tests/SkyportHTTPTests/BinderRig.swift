import Foundation
import SkyportTestSupport
import Synchronization
import Testing

/// The loopback peers a BinderHub launch needs besides BinderHub itself: a demo repository and the staging
/// repository, both served by `git daemon` (push enabled, as an operator's staging remote would be), and a data
/// server for the basket's URL items. Optionally the stand-in BinderHub (`Tests/Standins/binderhub_standin.py`).
/// Every process is tied to a pipe on its standard input: it ends when the rig stops, or when the test process dies.
final class BinderRig: Sendable {
    let root: URL
    let gitPort: Int
    let dataPort: Int
    let binderPort: Int?
    /// A server that records every POST body (callback notices) in `callbacks.jsonl`.
    let sinkPort: Int
    private let processes: Mutex<[Process]>

    static let standinScript = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Standins/binderhub_standin.py").path

    /// The basket files the data server holds: name → content.
    static let files: [String: String] = [
        "a.txt": "hello from the basket\n",
        "table.csv": (1...500).map { "\($0),\($0 * $0)" }.joined(separator: "\n") + "\n",
        "image.fits": String(repeating: "SIMPLE  =                    T", count: 90),
    ]

    var demoRepository: String { "git://127.0.0.1:\(gitPort)/demo.git" }
    var stagingPush: String { "git://127.0.0.1:\(gitPort)/staging.git" }
    var workDirectory: String { root.appending(path: "work").path }
    var binderURL: String? { binderPort.map { "http://127.0.0.1:\($0)" } }
    func dataURL(_ name: String) -> String { "http://127.0.0.1:\(dataPort)/\(name)" }

    init(standin arguments: [String]? = nil) throws {
        root = FileManager.default.temporaryDirectory.appending(path: "skyport-binder-rig-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        let repos = root.appending(path: "repos"), data = root.appending(path: "data"), src = root.appending(path: "src")
        for dir in [repos, data, src] { try fm.createDirectory(at: dir, withIntermediateDirectories: true) }
        for (name, content) in Self.files { try Data(content.utf8).write(to: data.appending(path: name)) }

        // The user's repository: a notebook, and a postBuild of its own that must keep working.
        try Data(#"{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#.utf8).write(to: src.appending(path: "analysis.ipynb"))
        try Data("#!/bin/sh\necho original postBuild ran > built-by-original.txt\n".utf8).write(to: src.appending(path: "postBuild"))
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: src.appending(path: "postBuild").path)
        try Self.shell("git init -q -b main && git add . && git -c user.name=t -c user.email=t@localhost commit -qm demo && git tag v1", in: src.path)
        try Self.shell("git clone -q --bare src repos/demo.git && git init -q --bare repos/staging.git", in: root.path)

        processes = Mutex([])
        gitPort = try Self.freePort()
        dataPort = try Self.freePort()
        binderPort = arguments == nil ? nil : try Self.freePort()
        sinkPort = try Self.freePort()
        let sink = root.appending(path: "sink.py")
        try Data(Self.sinkScript.utf8).write(to: sink)
        let log = root.appending(path: "peers.log").path
        // git-daemon itself, not `git daemon` (which forks it and leaves it behind when terminated).
        let gitExec = try Self.shell("git --exec-path", in: root.path).trimmingCharacters(in: .whitespacesAndNewlines)
        let git = try start(["\(gitExec)/git-daemon", "--listen=127.0.0.1", "--port=\(gitPort)", "--base-path=\(repos.path)", "--export-all",
                             "--enable=receive-pack", "--reuseaddr", repos.path], log: log)
        let files = try start(["python3", "-m", "http.server", "\(dataPort)", "--bind", "127.0.0.1"], in: data.path, log: log)
        let sinker = try start(["python3", sink.path, "\(sinkPort)", root.appending(path: "callbacks.jsonl").path], log: log)
        var standin: Process?
        if let arguments, let binderPort {
            let state = root.appending(path: "standin").path
            standin = try start(["python3", Self.standinScript, "--port", "\(binderPort)", "--state-dir", state] + arguments, log: log)
        }
        do {
            try waitFor(port: gitPort, git)
            try waitFor(port: dataPort, files)
            try waitFor(port: sinkPort, sinker)
            if let binderPort, let standin { try waitFor(port: binderPort, standin) }
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    static let sinkScript = """
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with open(sys.argv[2], "ab") as f:
                    f.write(body.replace(b"\\n", b" ") + b"\\n")
                self.send_response(204); self.end_headers()
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """

    var callbackURL: String { "http://127.0.0.1:\(sinkPort)/notices" }

    /// The callback notices received so far.
    func callbacks() -> [[String: Any]] {
        let text = (try? String(contentsOf: root.appending(path: "callbacks.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Stops every peer and removes the rig's files, without blocking the caller.
    func stop() {
        let all = processes.withLock { p in defer { p.removeAll() }; return p }
        guard !all.isEmpty else { return }
        // SIGKILL: peers are started from a process whose service lifecycle ignores SIGTERM and SIGINT, and an
        // ignored signal stays ignored in the children. Test peers need no graceful end.
        for process in all where process.processIdentifier > 0 { kill(process.processIdentifier, SIGKILL) }
        let root = root
        let reaped = Unchecked(all)
        Thread.detachNewThread {
            for process in reaped.value { process.waitUntilExit() }
            try? FileManager.default.removeItem(at: root)
        }
    }

    /// Makes a rig off the concurrency pool (starting peers blocks; the pool has as few threads as cores). A rig
    /// whose peer lost its port to another process (free when asked is not free when bound) is made again.
    static func make(standin arguments: [String]? = nil) async throws -> BinderRig {
        try TestPeers.requirePresent(available, "git and python3 are needed for the BinderHub rig")
        return try await offload {
            for attempt in 1... {
                do { return try BinderRig(standin: arguments) } catch is PortTaken where attempt < 3 {}
            }
            fatalError("unreachable")
        }
    }

    /// A peer could not listen on its port: another process had it.
    struct PortTaken: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts a peer; `stop` terminates it. (No shell in between: a wrapper waiting on a pipe can be kept alive by
    /// another child that inherited the pipe's other end.)
    @discardableResult
    private func start(_ command: [String], in dir: String? = nil, log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = command
        if let dir { process.currentDirectoryURL = URL(filePath: dir) }
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let output = try FileHandle(forWritingTo: URL(filePath: log))
        output.seekToEndOfFile()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
        processes.withLock { $0.append(process) }
        return process
    }

    /// Waits (a generous minute: a loaded machine starts python slowly) until `peer` itself listens on `port`: a
    /// listener of another process there (the kernel may give a port this rig was told is free to any process that
    /// binds port 0) would answer for a while and then refuse, and the peer, unable to bind, exits.
    private func waitFor(port: Int, _ peer: Process) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        let log = { (try? String(contentsOf: self.root.appending(path: "peers.log"), encoding: .utf8)).map { String($0.suffix(2000)) } ?? "" }
        repeat {
            if let listening = try? Self.shell("ss -Hltnp 'sport = :\(port)'", in: root.path), listening.contains("pid=\(peer.processIdentifier),") { return }
            guard peer.isRunning else { throw PortTaken(description: "\(peer.arguments ?? []) exited instead of listening on port \(port); peers.log:\n\(log())") }
            Thread.sleep(forTimeInterval: 0.1)
        } while ContinuousClock.now < deadline
        throw RigError("\(peer.arguments ?? []) does not listen on port \(port) after 60 s; peers.log:\n\(log())")
    }

    /// The staging remote's branches (Skyport's are `skyport/<session>`).
    func stagingBranches() async throws -> [String] {
        let command = "git ls-remote --heads \(stagingPush)", dir = root.path
        return try await offload { try Self.shell(command, in: dir) }.split(separator: "\n").map(String.init)
    }

    /// Whether Skyport's staging branches are all gone within `within` (they are deleted beside the stream).
    func stagingBranchesGone(within: Duration = .seconds(60)) async throws -> Bool {
        try await eventually(within: within, every: .milliseconds(100)) { try await stagingBranches().isEmpty }
    }

    /// Clones left in the staging work directory (Skyport's scratch repository aside).
    func clonesLeft() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: workDirectory)) ?? []).filter { $0 != "scratch.git" }
    }

    /// Pushes a new commit to the demo repository's branch `name` (for tests that need a repository of their own shape).
    func addBranch(_ name: String, files: [String: String]) throws {
        let dir = root.appending(path: "branch-\(UUID().uuidString.prefix(6))").path
        try Self.shell("git clone -q \(root.appending(path: "repos/demo.git").path) \(dir)", in: root.path)
        for (path, content) in files {
            let url = URL(filePath: dir).appending(path: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        try Self.shell("git checkout -q -b \(name) && git add -A && git -c user.name=t -c user.email=t@localhost commit -qm \(name) && git push -q origin \(name)", in: dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    static func shell(_ command: String, in dir: String) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(filePath: dir)
        let text = try runCapturing(process)
        guard process.terminationStatus == 0 else { throw RigError("`\(command)` failed: \(text)") }
        return text
    }

    /// Runs `process` to its end and returns its output, through a file: a pipe's write end can be inherited by a
    /// long-lived peer started meanwhile, and then the read would never see the end.
    static func runCapturing(_ process: Process) throws -> String {
        let file = FileManager.default.temporaryDirectory.appending(path: "rig-out-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try FileHandle(forWritingTo: file)
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? out.close()
        process.waitUntilExit()
        return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    }

    static func freePort() throws -> Int {
        // A port is free when asked, not when its server binds it: the kernel may hand the same one out again
        // meanwhile (seen once: a rig's stand-in and its sink drew one port, and the build request met the sink's
        // 404). So no port is handed out twice in this process.
        for _ in 0..<50 {
            let text = try shell("python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])\"", in: "/")
            guard let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw RigError("no free port: \(text)") }
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw RigError("no port free that was not handed out already")
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether git and python3 are here (the rig needs both).
    static let available: Bool = (try? shell("command -v git && command -v python3", in: "/")) != nil
}

/// Runs blocking work on a thread of its own, not on the concurrency pool.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

struct RigError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
