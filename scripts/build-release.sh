#!/usr/bin/env bash
# The one way the `skyport` release binary is built (serve.sh and the bench scripts use it): the Swift runtime and
# Foundation linked statically (`--static-swift-stdlib`), so that the broker maps one file instead of a dozen shared
# libraries and the linker keeps only what it uses; lld with packed relocations comes from Package.swift. Every
# release build of the .build directory must use the same flags, or SwiftPM recompiles every Swift module when they
# change. Extra arguments are passed on (e.g. --scratch-path). The test build (scripts/test.sh) stays dynamic.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release --product skyport --static-swift-stdlib "$@"
