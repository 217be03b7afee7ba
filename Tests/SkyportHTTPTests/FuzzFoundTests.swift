import Foundation
import SkyportBroker
import SkyportCore
import Testing

/// Inputs the fuzz harnesses (`scripts/fuzz.sh`) found, for the parsers and renderers the HTTP edge uses.
@Suite struct FuzzFoundYAMLTests {
    /// FuzzYAML: a string that reads as null in plain YAML (`~`, `null`, `Null`, `NULL`) was written unquoted in YAML
    /// responses, so it came back as null.
    @Test(arguments: ["~", "null", "Null", "NULL", "true", "no", "12", "0x1F", "1e+16", ".inf", "2026-01-01", "- a", "a: b", ""])
    func yamlStringsThatLookLikeOtherScalarsReadBackAsStrings(_ text: String) throws {
        let value = JSONValue.object(["name": .string(text), "list": .array([.string(text)])])
        let yaml = try YAMLBridge.serialize(value)
        #expect(try YAMLBridge.parse(yaml) == value, "YAML written: \(yaml)")
    }
}

/// FuzzYAML: Yams reads YAML 1.1 sexagesimal integers (`1:30` is 90) with unchecked arithmetic, so a plain scalar of
/// twelve or more `:`-separated numbers, or of large ones, trapped (arithmetic overflow) and took the server down,
/// both reading a YAML body and writing a YAML response holding such a string.
@Suite struct FuzzFoundSexagesimalTests {
    @Test(arguments: ["1:2:3:4:5:6:7:8:9:10:11:12", "0:0:0:0:0:0:0:0:0:0:0:0",
                      "-86:+412:26:+6:+0412:26:+6:+06:+026:+6:+207:+6:+026:+6:+207:+7",
                      "-9223372036854775807:59", "153722867280912930:59:59"])
    func longOrLargeSexagesimalScalarsAreReadWithoutATrap(_ text: String) throws {
        let read = try YAMLBridge.parse("n: \(text)\n")
        #expect(read["n"] != nil)
        let asString = JSONValue.object(["n": .string(text)])
        #expect(try YAMLBridge.parse(YAMLBridge.serialize(asString)) == asString)
    }

    @Test func aSexagesimalIntegerThatFitsIsStillAnInteger() throws {
        #expect(try YAMLBridge.parse("a: 1:30\nb: -2:00:00\nc: 1_0:00") == .object(["a": .number(90), "b": .number(-7_200), "c": .number(600)]))
    }
}
