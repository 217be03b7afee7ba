import Foundation
import SkyportCore
import SkyportRemotes
import Testing

/// The stager's own guard, behind the request parser's: git itself refuses every transport but http(s) and git for
/// a user's repository, so a local repository is never cloned (and so never pushed to the staging remote).
@Suite struct GitStagerTests {
    @Test func aLocalRepositoryIsNeverClonedWhateverReachesTheStager() async throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "skyport-gitstager-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let secret = root.appending(path: "secret")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: true)
        for command in ["git init --quiet", "git -c user.email=a@b -c user.name=a commit --quiet --allow-empty -m secret"] {
            let p = Process()
            p.executableURL = URL(filePath: "/bin/sh")
            p.arguments = ["-c", command]
            p.currentDirectoryURL = secret
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(command)")
        }
        let staging = root.appending(path: "staging.git")
        try await withEgress { egress in
            let stager = GitStager(remote: StagingRemote(pushURL: staging.path, workDirectory: root.appending(path: "work").path), egress: egress)
            for url in [secret.path, "file://\(secret.path)"] {
                do {
                    _ = try await stager.stage(session: UUID(), repository: url, ref: nil, plan: BasketStaging.plan(session: "s", items: []))
                    Issue.record("\(url) was cloned")
                } catch let refusal as FacilityRefusal {
                    #expect(refusal.message.contains("not allowed") || refusal.message.contains("not cloned"), "\(refusal.message)")
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: staging.path), "nothing was pushed")
    }
}
