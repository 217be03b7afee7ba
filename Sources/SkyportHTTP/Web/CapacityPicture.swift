import Foundation
import SkyportCore

/// A facility's capacity over a window as an SVG picture: the cores booked (a step function of the sessions that hold
/// them, from the capacity calendar's own `CapacityCalendar`), the cores it has, and the time axis in UTC. Pure: the
/// same sessions and window give the same bytes.
struct CapacityPicture {
    var capacity: Int?
    var holds: [Booking]
    var from: Date
    var to: Date

    static let width = 720.0, height = 220.0
    static let left = 44.0, right = 12.0, top = 14.0, bottom = 30.0

    /// The booked cores as steps: (time, cores from then on), from `from` to `to`.
    var steps: [(time: Date, cores: Int)] {
        var calendar = CapacityCalendar(capacity: FacilityCapacity(cores: capacity))
        for booking in holds { calendar.add(booking) }
        var level = calendar.peakBooked(from: from, to: from).cores
        var steps = [(time: from, cores: level)]
        for edge in calendar.edges where edge.time > from.timeIntervalSince1970 && edge.time < to.timeIntervalSince1970 {
            level += edge.cores
            steps.append((Date(timeIntervalSince1970: edge.time), level))
        }
        return steps
    }

    var peak: Int { steps.map(\.cores).max() ?? 0 }

    /// The picture, with a title and a description a screen reader reads.
    func svg(title: String) -> String {
        let steps = self.steps
        let top = max(capacity ?? 0, peak, 1)
        let (w, h) = (Self.width, Self.height)
        let plotW = w - Self.left - Self.right, plotH = h - Self.top - Self.bottom
        let span = max(to.timeIntervalSince(from), 1)
        func x(_ t: Date) -> Double { Self.left + plotW * min(max(t.timeIntervalSince(from) / span, 0), 1) }
        func y(_ cores: Int) -> Double { Self.top + plotH * (1 - Double(cores) / Double(top)) }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }

        var path = "M\(n(x(from))) \(n(y(0)))"
        for (i, step) in steps.enumerated() {
            path += " L\(n(x(step.time))) \(n(y(i == 0 ? step.cores : steps[i - 1].cores))) L\(n(x(step.time))) \(n(y(step.cores)))"
        }
        path += " L\(n(x(to))) \(n(y(steps.last?.cores ?? 0))) L\(n(x(to))) \(n(y(0))) Z"

        let free = capacity.map { max(0, $0 - (steps.first?.cores ?? 0)) }
        let description = "Booked cores from \(Timestamp.format(from)) to \(Timestamp.format(to)): at most \(peak)"
            + (capacity.map { " of \($0)" } ?? " (total capacity not declared)") + "; \(holds.count) session(s) hold capacity"
            + (free.map { "; \($0) free now" } ?? "") + "."
        var svg = """
            <svg id="capacity" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(w)) \(Int(h))" role="img" aria-labelledby="capacity-title capacity-desc">
            <title id="capacity-title">\(XMLEscape.escape(title))</title>
            <desc id="capacity-desc">\(XMLEscape.escape(description))</desc>
            <rect x="\(n(Self.left))" y="\(n(Self.top))" width="\(n(plotW))" height="\(n(plotH))" fill="#f4f7f4" stroke="#8a9a8a"/>
            <path d="\(path)" fill="#3b6ea5" fill-opacity="0.75" stroke="#1d3f66"/>

            """
        if let capacity {
            svg += "<line x1=\"\(n(Self.left))\" x2=\"\(n(w - Self.right))\" y1=\"\(n(y(capacity)))\" y2=\"\(n(y(capacity)))\" stroke=\"#b03a2e\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
            svg += "<text x=\"\(n(w - Self.right - 4))\" y=\"\(n(y(capacity) - 4))\" text-anchor=\"end\" font-size=\"12\" fill=\"#7a2318\">capacity \(capacity) cores</text>\n"
        }
        for cores in [0, top / 2, top] {
            svg += "<text x=\"\(n(Self.left - 6))\" y=\"\(n(y(cores) + 4))\" text-anchor=\"end\" font-size=\"12\" fill=\"#222\">\(cores)</text>\n"
        }
        let hours = span / 3600
        let every = hours <= 12 ? 2.0 : hours <= 48 ? 6.0 : hours <= 168 ? 24.0 : 48.0
        var tick = (from.timeIntervalSince1970 / (every * 3600)).rounded(.up) * every * 3600
        while tick < to.timeIntervalSince1970 {
            let t = Date(timeIntervalSince1970: tick)
            let label = String(Timestamp.format(t).dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ")
            svg += "<line x1=\"\(n(x(t)))\" x2=\"\(n(x(t)))\" y1=\"\(n(h - Self.bottom))\" y2=\"\(n(h - Self.bottom + 4))\" stroke=\"#222\"/>"
            svg += "<text x=\"\(n(x(t)))\" y=\"\(n(h - 8))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#222\">\(label)</text>\n"
            tick += every * 3600
        }
        svg += "<text x=\"\(n(Self.left))\" y=\"\(n(Self.top - 3))\" font-size=\"11\" fill=\"#222\">cores booked (UTC)</text>\n</svg>"
        return svg
    }
}
