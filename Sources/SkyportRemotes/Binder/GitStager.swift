import Foundation
import Logging
import SkyportCore

/// Where derived commits go: a git remote the operator gave Skyport, which BinderHub can clone from.
public struct StagingRemote: Sendable, Hashable {
    /// The URL Skyport pushes to (`file:///srv/staging.git`, `ssh://...`, `git://...` with receive-pack on).
    public var pushURL: String
    /// The URL BinderHub clones from (often the same repository served read-only, e.g. by `git daemon`).
    public var fetchURL: String
    /// Where clones are made (each removed when its commit is pushed, or when staging fails).
    public var workDirectory: String
    /// The longest one git command may take.
    public var timeout: Duration

    public init(pushURL: String, fetchURL: String? = nil, workDirectory: String, timeout: Duration = .seconds(300)) {
        self.pushURL = pushURL
        self.fetchURL = fetchURL ?? pushURL
        self.workDirectory = workDirectory
        self.timeout = timeout
    }

    /// The branch a session's derived commit is pushed to.
    public static func branch(for session: UUID) -> String { "skyport/\(session.lowercasedText)" }
}

/// A derived commit, pushed.
public struct StagedCommit: Sendable, Hashable {
    public var sha: String
    public var branch: String
}

/// Makes the derived commit for a BinderHub launch with the `git` command: clone the user's repository at the
/// requested ref (or its default branch), add the staging `postBuild` (keeping an existing one, which runs first),
/// commit, and push it to a unique branch of the staging remote. Errors that retrying cannot fix (no such
/// repository, a ref that does not resolve) are `FacilityRefusal`s naming the repository or ref.
///
/// The staging remote is the operator's and is trusted; the user's repository is not: its host is judged by the
/// egress gate before `git clone` runs, and git is pinned to the judged address (`http.curloptResolve`), so that git's
/// own resolution cannot answer differently. `git://` (which git connects to itself) is only for hosts the operator
/// names in `SKYPORT_EGRESS_ALLOW`.
public struct GitStager: Sendable {
    public let remote: StagingRemote
    let egress: Egress
    let logger: Logger

    public init(remote: StagingRemote, egress: Egress, logger: Logger = Logger(label: "skyport.staging")) {
        self.remote = remote
        self.egress = egress
        self.logger = logger
    }

    public func stage(session: UUID, repository: String, ref: String?, plan: BasketStaging.Plan) async throws -> StagedCommit {
        try FileManager.default.createDirectory(atPath: remote.workDirectory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: remote.workDirectory).appending(path: "clone-\(session.lowercasedText)-\(UUID().text.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await clone(repository, ref: ref, into: dir)

        let fm = FileManager.default
        let entries = Set((try? fm.contentsOfDirectory(atPath: dir)) ?? [])
        let directories = Set(entries.filter { var isDir: ObjCBool = false; return fm.fileExists(atPath: "\(dir)/\($0)", isDirectory: &isDir) && isDir.boolValue })
        let configDir = BasketStaging.configDirectory(existing: directories)
        let postBuildPath = "\(dir)/\(configDir.isEmpty ? "" : configDir + "/")postBuild"
        let files = BasketStaging.files(plan, directory: configDir, hasPostBuild: fm.fileExists(atPath: postBuildPath))
        if let move = files.moveOriginal {
            try await git(["mv", "-f", "--", move.from, move.to], in: dir)
        }
        try Data(files.script.utf8).write(to: URL(fileURLWithPath: "\(dir)/\(files.postBuild)"))
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/\(files.postBuild)")
        try await git(["add", "--", files.postBuild], in: dir)
        try await git([
            "-c", "user.name=Skyport", "-c", "user.email=skyport@localhost", "-c", "commit.gpgsign=false",
            "commit", "--quiet", "--no-verify", "-m", "Skyport: stage the data basket of session \(plan.session)",
        ], in: dir)
        let sha = try await git(["rev-parse", "HEAD"], in: dir).trimmingWhitespace()
        let branch = StagingRemote.branch(for: session)
        try await git(["push", "--quiet", "--force", "--no-verify", remote.pushURL, "HEAD:refs/heads/\(branch)"], in: dir, what: "pushing to the staging remote")
        logger.info("basket staged", metadata: ["session": .string(plan.session), "commit": .string(sha), "branch": .string(branch)])
        return StagedCommit(sha: sha, branch: branch)
    }

    /// Deletes a session's staging branch; a branch that is already gone is fine.
    public func deleteBranch(for session: UUID) async {
        let branch = StagingRemote.branch(for: session)
        do {
            let scratch = try await scratchRepository()
            try await git(["push", "--quiet", remote.pushURL, "--delete", "refs/heads/\(branch)"], in: scratch, what: "deleting the staging branch")
            logger.debug("staging branch deleted", metadata: ["branch": .string(branch)])
        } catch let error as GitFailure where error.output.contains("remote ref does not exist") || error.output.contains("unable to delete") {
            return
        } catch {
            logger.warning("could not delete a staging branch", metadata: ["branch": .string(branch), "error": .string("\(error)")])
        }
    }

    /// The staging remote's branches made by Skyport.
    public func branches() async throws -> [String] {
        let out = try await run(["ls-remote", "--heads", remote.pushURL, "refs/heads/skyport/*"], in: nil)
        return out.split(separator: "\n").compactMap { $0.split(separator: "\t").last.map { String($0.dropFirst("refs/heads/".count)) } }
    }

    // MARK: - git

    func clone(_ repository: String, ref: String?, into dir: String) async throws {
        let looksLikeCommit = ref.map { $0.count >= 7 && $0.count <= 40 && $0.allSatisfy(\.isHexDigit) } ?? false
        let pin = try await admit(repository)
        do {
            if let ref, !looksLikeCommit {
                try await untrusted(pin + ["clone", "--quiet", "--no-tags", "--single-branch", "--branch", ref, "--", repository, dir], in: nil, what: "cloning")
            } else {
                try await untrusted(pin + ["clone", "--quiet", "--", repository, dir], in: nil, what: "cloning")
                if let ref { try await git(["checkout", "--quiet", "--detach", ref], in: dir, what: "checking out") }
            }
        } catch let failure as GitFailure {
            let text = failure.output
            if text.contains("Remote branch") && text.contains("not found") || text.contains("did not match any") || text.contains("unknown revision")
                || text.contains("reference is not a tree") {
                throw FacilityRefusal("the ref '\(ref ?? "")' does not resolve in \(repository)")
            }
            // Anything but a network failure is the repository's (not found, not exported, private): retrying cannot help.
            let transient = ["Could not resolve host", "Connection refused", "Connection timed out", "Connection reset", "early EOF",
                             "The requested URL returned error: 5", "Operation timed out", "stopped after"]
            if !transient.contains(where: text.contains) {
                throw FacilityRefusal("the repository \(repository) could not be cloned: \(failure.lastLine)")
            }
            throw failure
        }
    }

    /// Judges a user's repository URL: the git options that pin git to the judged address (none for an address, or
    /// for a `git://` host the operator allows). A refusal is the session's failure, naming the repository.
    func admit(_ repository: String) async throws -> [String] {
        if let problem = RepositoryURL.problem(repository) { throw FacilityRefusal("the repository \(repository.prefix(200)): \(problem)") }
        let scheme = URLComponents(string: repository)?.scheme?.lowercased()
        do {
            if scheme == "git" {
                let host = URLComponents(string: repository)?.host ?? ""
                guard egress.policy.allowsGit(host: host) else {
                    throw egress.refuse(EgressRefusal(.scheme, host: host), .git)
                }
                return []
            }
            let admission = try await egress.admit(repository, purpose: .git)
            guard let pin = admission.pin else { return [] }
            let address = pin.address.isIPv4 ? pin.address.description : "[\(pin.address)]"
            return ["-c", "http.curloptResolve=\(pin.host):\(admission.port):\(address)"]
        } catch let refusal as EgressRefusal {
            throw FacilityRefusal("the repository \(repository.prefix(200)) is not cloned: \(refusal)")
        }
    }

    /// An empty repository to run `git push --delete` from; made once, atomically (deletions run concurrently).
    func scratchRepository() async throws -> String {
        let path = URL(fileURLWithPath: remote.workDirectory).appending(path: "scratch.git").path
        if FileManager.default.fileExists(atPath: "\(path)/HEAD") { return path }
        try FileManager.default.createDirectory(atPath: remote.workDirectory, withIntermediateDirectories: true)
        let fresh = URL(fileURLWithPath: remote.workDirectory).appending(path: ".scratch-\(UUID().text).git").path
        _ = try await run(["init", "--quiet", "--bare", fresh], in: nil)
        if rename(fresh, path) != 0 { try? FileManager.default.removeItem(atPath: fresh) }  // another made it first
        return path
    }

    /// Git settings for a repository a user named: only http(s) and git transports (never a local path, `file://`,
    /// `ssh://` or `ext::`, also not through a submodule or an alternate), no redirects, no credential helpers.
    static let untrustedConfig = [
        "-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always",
        "-c", "protocol.git.allow=always", "-c", "protocol.file.allow=never", "-c", "http.followRedirects=false",
        "-c", "credential.helper=", "-c", "core.askPass=/bin/true",
    ]

    /// Proxies from the environment would carry git past the egress gate's pin: a user's clone runs without them.
    static let proxyVariables = ["http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"]

    /// A git command on a user's repository (`clone`): the transports are held to `untrustedConfig` and
    /// `GIT_ALLOW_PROTOCOL`, whatever the repository URL says.
    @discardableResult
    func untrusted(_ arguments: [String], in dir: String?, what: String? = nil) async throws -> String {
        try await Subprocess.run("/usr/bin/env", ["git"] + Self.untrustedConfig + arguments, directory: dir, timeout: remote.timeout, environment: [
            "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "LC_ALL": "C", "GIT_ALLOW_PROTOCOL": "https:http:git", "GIT_PROTOCOL_FROM_USER": "0",
        ], unset: Self.proxyVariables, what: what ?? "git \(arguments.first ?? "")")
    }

    @discardableResult
    func git(_ arguments: [String], in dir: String?, what: String? = nil) async throws -> String {
        try await run(arguments, in: dir, what: what)
    }

    func run(_ arguments: [String], in dir: String?, what: String? = nil) async throws -> String {
        try await Subprocess.run("/usr/bin/env", ["git"] + arguments, directory: dir, timeout: remote.timeout, environment: [
            "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C",
        ], what: what ?? "git \(arguments.first ?? "")")
    }
}

/// A git command that failed: its last lines of output say why.
public struct GitFailure: Error, CustomStringConvertible, Sendable {
    public var what: String
    public var status: Int32
    public var output: String
    public var lastLine: String {
        output.split(separator: "\n").last { !$0.trimmingSpaces().isEmpty }.map(String.init) ?? "exit status \(status)"
    }
    public var description: String { "\(what) failed: \(lastLine)" }
}

/// Runs a command without blocking a thread of the concurrency pool: output goes to a temporary file, and the
/// process is killed when it runs past its timeout.
enum Subprocess {
    static func run(
        _ executable: String, _ arguments: [String], directory: String?, timeout: Duration, environment: [String: String],
        unset: [String] = [], what: String
    ) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.filter { !unset.contains($0.key) }.merging(environment) { $1 }
        let outputURL = FileManager.default.temporaryDirectory.appending(path: "skyport-git-\(UUID().text).log")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let output = try FileHandle(forWritingTo: outputURL)
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice

        let running = process
        let killer = Task {
            try await Task.sleep(for: timeout)
            // SIGKILL: the broker's service lifecycle ignores SIGTERM, and children inherit an ignored signal.
            if running.isRunning { kill(running.processIdentifier, SIGKILL) }
        }
        defer { killer.cancel() }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let text = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        if process.terminationReason == .uncaughtSignal {
            throw GitFailure(what: what, status: status, output: text + "\nstopped after \(timeout)")
        }
        guard status == 0 else { throw GitFailure(what: what, status: status, output: text) }
        return text
    }
}
