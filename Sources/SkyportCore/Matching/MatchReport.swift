/// Readable text reports of a match, for `skyport match`.
public enum MatchReport {
    /// Matches one request and describes the result: ranked candidates with score and flags, then every rejection.
    public static func text(for request: NormalisedRequest, against facilities: [Facility]) -> String {
        text(for: request, outcome: Matcher.match(request, against: facilities))
    }

    /// Describes a match outcome for the request it came from.
    public static func text(for request: NormalisedRequest, outcome: MatchOutcome) -> String {
        var lines: [String] = []
        lines.append("Request \(request.name.map { "'\($0)'" } ?? "(unnamed)"): \(summary(outcome.shape))")
        let total = outcome.acceptedCount + outcome.rejectedCount
        lines.append("\(outcome.isMatch ? "YES" : "NO"): \(outcome.acceptedCount) of \(total) facilities match.")
        lines.append("Funnel: \(outcome.funnel.text)")
        lines.append("Ranked by: \(outcome.shape.rank.rawValue)")
        let candidates = outcome.candidates
        if !candidates.isEmpty {
            lines.append("")
            lines.append("Candidates, best first:")
            for (n, c) in candidates.enumerated() {
                lines.append("  \(n + 1). \(c.facility.id)  (\(c.score))")
                for flag in c.flags { lines.append("       ! \(flag.code.rawValue) [\(flag.field)]: \(flag.message)") }
            }
        }
        let rejections = outcome.rejections
        if !rejections.isEmpty {
            lines.append("")
            lines.append("Rejected:")
            for r in rejections {
                lines.append("  - \(r.facility)")
                for reason in r.reasons {
                    lines.append("       x \(reason.code.rawValue) [\(reason.field)]: requested \(reason.requested), offered \(reason.offered.isEmpty ? "none" : reason.offered). \(reason.message)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// What matching read from the request, in one line.
    public static func summary(_ s: MatchShape) -> String {
        var parts = ["kind \(s.kind?.rawValue ?? "unknown")"]
        if let c = s.minCores { parts.append("cores >= \(c)") }
        if let m = s.minMemory { parts.append("memory >= \(m) GiB") }
        if let d = s.durationSeconds { parts.append("duration \(ISODuration(seconds: d))") }
        if let a = s.architecture { parts.append("architecture \(a.rawValue)") }
        if let g = s.gpus {
            parts.append("gpus >= \(g)" + (s.gpuModels.isEmpty ? "" : " (\(s.gpuModels.joined(separator: "|")))") + (s.gpuMemory.map { " with \($0) GiB each" } ?? ""))
        }
        if let sc = s.minScratch { parts.append("scratch >= \(sc) GiB") }
        if !s.runtimes.isEmpty { parts.append("runtimes \(s.runtimes.joined(separator: ", "))") }
        if !s.environments.isEmpty { parts.append("environments \(s.environments.joined(separator: ", "))") }
        if !s.imageRepositories.isEmpty { parts.append("images \(s.imageRepositories.joined(separator: ", "))") }
        if s.locality == .required { parts.append("data locality required") }
        if !s.rucioItems.isEmpty {
            let unknown = s.rucioItems.filter(\.isEmpty).count
            parts.append("\(s.rucioItems.count) Rucio item\(s.rucioItems.count == 1 ? "" : "s")\(unknown > 0 ? " (\(unknown) with unknown replicas)" : "")")
        }
        return parts.joined(separator: ", ")
    }
}
