import Foundation

/// The syntax of fields whose grammar is written once, here, and used twice: as the `pattern` of a schema in
/// `specs/openapi.yaml` (a test checks the two are the same text) and as the check the server makes where the field
/// enters, before it parses the value. So a client generated from the spec, or a fuzzer, and the server agree on
/// every value. The patterns keep to what ECMA-262, Python's `re` and ICU read alike: `[0-9]` rather than `\d`
/// (which is Unicode-wide in two of them), no flags.
public enum SpecPattern {
    /// An ISO-8601 duration, written strictly: designators upper-case and in order, a fraction only on seconds
    /// (`PT1H`, `P1DT12H`, `PT0.5S`, `P2W`).
    public static let isoDuration =
        #"^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$"#

    /// An ISO-8601 interval as `schedule.requested.start` takes it: `start/end`, `start/duration` or `duration/end`
    /// (`2026-06-01T10:00:00Z/PT2H`); a date may leave out its time (midnight), its seconds, or its zone (UTC).
    public static let isoInterval = "^(" + dateTime + "/(" + dateTime + "|" + durationBody + ")|" + durationBody + "/" + dateTime + ")$"

    private static let dateTime =
        #"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"#
    private static let durationBody =
        #"P(?!/|$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?"#

    /// `isoDuration` longer than zero (some digit is not 0).
    public static let positiveIsoDuration =
        #"^P(?=[^1-9]*[1-9])([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$"#

    /// An executable kind: a short alias (`jupyter-notebook`, …) or a kind URI (a colon, no spaces or controls).
    public static let executableKind =
        #"^(jupyter-notebook|binder-notebook|docker-container|singularity-container|tap-query|uws-job|[^\u0000-\u0020\u007F:]+:[^\u0000-\u0020\u007F]+)$"#

    /// Not blank: some character that is neither a space (of any kind) nor a control character. Unanchored.
    public static let notBlank = #"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"#

    /// A facility's identifier: an `ivo://` identifier (an authority of at least 3 characters, printable ASCII without
    /// spaces, quotes or angle brackets) or a URL-safe name not starting with a dot. At most 256 bytes (apart).
    public static let facilityID =
        #"^([Ii][Vv][Oo]://[A-Za-z0-9._~=&;:+%!$'()*,@-]{3,}([/?#][A-Za-z0-9._~/?#=&;:+%!$'()*,@-]*)?|[A-Za-z0-9_~-][A-Za-z0-9._~-]*)$"#

    /// A duration as the 2022 ExecutionPlanner note writes it (`5m`, `60s`, `1h30m`, `2 days`), or `isoDuration`.
    public static let plannerDuration =
        #"^( *(([0-9]+(\.[0-9]*)?|\.[0-9]+) *(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)[ ,]*)+|P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?)$"#

    /// A memory size as the 2022 ExecutionPlanner note writes it: a number and an optional unit, decimal or binary,
    /// either case, all read as binary (`8G`, `16GiB`, `512 MB`, `1.5TB`, `2`: a bare number is GiB).
    public static let memorySize = #"^ *([0-9]+(\.[0-9]*)?|\.[0-9]+)( *([KkMmGgTtPp][Ii]?[Bb]?|[Bb]([Yy][Tt][Ee][Ss]?)?))? *$"#

    /// A version range: comma- (or semicolon-) separated clauses such as `>=3.10`, `<3.13`, `3.11`, `3.*`, `3.8+`,
    /// `~=3.9`, `==3.11.*`, `!=3.12`, or `*`; empty is any version.
    public static let versionRange =
        #"^ *((\*|(>=|<=|!=|~=|>|<) *[0-9]+(\.[0-9]+)*|(==? *)?[0-9]+(\.[0-9]+)*(\.\*)?|[0-9]+(\.[0-9]+)*\+) *([,;] *(\*|(>=|<=|!=|~=|>|<) *[0-9]+(\.[0-9]+)*|(==? *)?[0-9]+(\.[0-9]+)*(\.\*)?|[0-9]+(\.[0-9]+)*\+) *)*)?$"#

    /// A runtime with an optional version range in one string: `python >=3.10`, `python3.11`, `r 4.*`, `julia`.
    public static let runtimeText =
        #"^ *[A-Za-z][A-Za-z_-]* *((\*|(>=|<=|!=|~=|>|<) *[0-9]+(\.[0-9]+)*|(==? *)?[0-9]+(\.[0-9]+)*(\.\*)?|[0-9]+(\.[0-9]+)*\+) *([,;] *(\*|(>=|<=|!=|~=|>|<) *[0-9]+(\.[0-9]+)*|(==? *)?[0-9]+(\.[0-9]+)*(\.\*)?|[0-9]+(\.[0-9]+)*\+) *)*)?$"#

    /// One version a facility has (`3.11`, `3.12.4`, `4.4.1rc1`): digits first, as far as the numbers go.
    public static let version = #"^[0-9]+(\.[0-9]+)*[A-Za-z0-9.+_-]{0,64}$"#

    /// A name without spaces or control characters (an environment, a registry, a GPU model); 1 to 128 characters,
    /// a bound checked apart (`maxLength` in the spec).
    public static let vocabularyName = #"^[^\u0000-\u0020\u007F]+$"#

    /// A runtime's name on its own (`python`, `r`, `julia`, `nodejs`).
    public static let runtimeName = #"^[A-Za-z0-9_.+-]{1,64}$"#

    /// An http or https URL as the broker reads one: an absolute URL whose host is a DNS name (labels of 1 to 63
    /// letters, digits, hyphens and underscores, neither starting nor ending with a hyphen, the last starting with a
    /// letter; 253 at most) or an IPv4 address in dotted-quad form (so no number, hex or octal spelling of an
    /// address, and no IPv6 literal), an optional port up to 65535, no user name or password, and a path, query and
    /// fragment of RFC 3986 characters (anything else percent-encoded). At most 2,048 bytes (a separate bound).
    public static let httpURLSyntax = "^" + scheme + "(" + ipv4 + "|" + hostName + ")" + urlRest

    /// `httpURLSyntax` less what the default egress rule refuses where a URL enters (`EgressPolicy.check(url:)`
    /// with no `SKYPORT_EGRESS_ALLOW`): names that always mean this machine, and addresses outside the public
    /// unicast space. The spec's `HttpUrl`; a test holds it to the egress policy's own table.
    public static let httpURL = "^" + scheme + refusedHosts + "(" + ipv4 + "|" + hostName + ")" + urlRest

    private static let scheme = "[Hh][Tt][Tt][Pp][Ss]?://"
    private static let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    private static let ipv4 = octet + "(\\." + octet + "){3}(?=[:/?#]|$)"
    private static let hostName =
        "(?=[A-Za-z0-9_.-]{1,254}([:/?#]|$))([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.)*[A-Za-z]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.?"
    private static let urlRest =
        #"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?([/?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?(#([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"#
    /// The hosts the default egress rule refuses, as look-aheads (EgressPolicy.ipv4Table, and `localhost` names).
    private static let refusedHosts: String = {
        let end = "([:/?#]|$)"
        func address(_ prefix: String, free: Int) -> String {
            "(?!" + prefix + String(repeating: "\\." + octet, count: free) + end + ")"
        }
        let localhost = "[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]"
        return [
            "(?!([A-Za-z0-9_-]+\\.)*" + localhost + "\\.?" + end + ")",
            "(?!" + localhost + "\\.[Ll][Oo][Cc][Aa][Ll][Dd][Oo][Mm][Aa][Ii][Nn]\\.?" + end + ")",
            address("(0|10|127|22[4-9]|23[0-9]|24[0-9]|25[0-5])", free: 3),
            address("169\\.254", free: 2), address("172\\.(1[6-9]|2[0-9]|3[01])", free: 2), address("192\\.168", free: 2),
            address("100\\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])", free: 2), address("198\\.1[89]", free: 2),
            address("192\\.0\\.[02]", free: 1), address("198\\.51\\.100", free: 1), address("203\\.0\\.113", free: 1),
            address("192\\.88\\.99", free: 1), address("168\\.63\\.129\\.16", free: 0),
        ].joined()
    }()

    /// The seconds of a `positiveIsoDuration`, brought into `range` (a shorter one is read as its lower end, a longer
    /// one as its upper end, as the spec says of each such field); nil when the text is not one.
    public static func duration(_ text: String, clampedTo range: ClosedRange<Double>) -> Double? {
        guard let written = accepted(text, positiveIsoDuration), let seconds = ISODuration.exactSeconds(written) else { return nil }
        return min(max(seconds, range.lowerBound), range.upperBound)
    }

    /// `PT1S` to `P366D`: a facility's job and launch limits, a quota's window.
    public static let secondToLeapYear: ClosedRange<Double> = 1...(366 * 86_400)
    /// `PT0.01S` to `PT10M`: how long to wait for another broker's offers.
    public static let offerWait: ClosedRange<Double> = 0.01...600

    /// Whether `text` matches `pattern` (one of the above) as JSON Schema's `pattern` reads it: a match anywhere, so
    /// the anchored ones must match whole. As in Python's `re` (what schemathesis and most validators use), a
    /// closing `$` also matches before one final newline.
    public static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = compiled(pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// `text` when it matches `pattern`, without the final newline a closing `$` lets through; else nil.
    public static func accepted(_ text: String, _ pattern: String) -> String? {
        guard matches(text, pattern) else { return nil }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    private static let cache: [String: Regex] = Dictionary(
        uniqueKeysWithValues: [isoDuration, positiveIsoDuration, facilityID, executableKind, notBlank, isoInterval, memorySize, plannerDuration, versionRange, runtimeText, runtimeName, version, vocabularyName, httpURL, httpURLSyntax].map {
            ($0, Regex($0))
        })

    private static func compiled(_ pattern: String) -> NSRegularExpression? {
        cache[pattern]?.expression ?? (try? NSRegularExpression(pattern: pattern, options: options))
    }

    /// NSRegularExpression is immutable and documented as safe to share between threads.
    private final class Regex: @unchecked Sendable {
        let expression: NSRegularExpression?
        init(_ pattern: String) { expression = try? NSRegularExpression(pattern: pattern, options: options) }
    }

    /// ICU otherwise ends a line at `\r`, `\u{85}`, `\u{2028}` and more, so that its `$` would match before any of
    /// them at the end; with this, as in Python's `re`, only before a final `\n`.
    public static let options: NSRegularExpression.Options = [.useUnixLineSeparators]
}
