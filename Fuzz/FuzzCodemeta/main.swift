// codemeta.json documents (`Codemeta.normalise`, a request's `software`), read through the JSON reader.
import Foundation
import FuzzSupport
import SkyportCore

let hints: [ExecutableKind?] = [nil, .jupyterNotebook, .binderNotebook, .dockerContainer, .tapQuery, .uwsJob]

Fuzz.run { data in
    guard let document = try? JSONValue.parse(data) else { return }
    let hint = hints[data.count % hints.count]
    _ = try? Codemeta.normalise(document, kindHint: hint)
}
