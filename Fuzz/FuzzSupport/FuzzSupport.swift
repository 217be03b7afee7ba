import CLibFuzzer
import Foundation

// What every harness shares: the libFuzzer driver and the invariant check.
//
// A harness's `main.swift` calls `Fuzz.run { data in ... }`. The body feeds `data` to a parser; a parser may
// throw (malformed input is expected), and must never trap. `Fuzz.check` turns a broken invariant (parse → render →
// parse changed the value) into a crash that libFuzzer records as an artifact.

nonisolated(unsafe) private var fuzzBody: ((Data) -> Void)?

/// The function libFuzzer calls once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func skyportFuzzTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    fuzzBody?(data)
    return 0
}

public enum Fuzz {
    /// Runs libFuzzer (it reads its own flags from the command line) with `body` as the target, and exits with its status.
    public static func run(_ body: @escaping (Data) -> Void) -> Never {
        fuzzBody = body
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, size in skyportFuzzTestOneInput(bytes, size) })
    }

    /// A broken invariant: report it and crash, so that libFuzzer keeps the input.
    public static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                             file: StaticString = #fileID, line: UInt = #line) {
        guard condition() else {
            FileHandle.standardError.write(Data("INVARIANT BROKEN (\(file):\(line)): \(message())\n".utf8))
            abort()
        }
    }

    /// The input as text, the way the HTTP edge reads a body (invalid UTF-8 repaired).
    public static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    /// A fixed "now", so that a run is reproducible.
    public static let now = Date(timeIntervalSince1970: 1_796_000_000)
}
