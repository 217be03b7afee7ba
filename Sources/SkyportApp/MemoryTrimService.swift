import Logging
import ServiceLifecycle
import SkyportHTTP

/// Gives memory back to the system after a burst of connections has passed. Each connection's buffers are freed
/// when it closes, but glibc keeps freed memory in its per-thread arenas: 20,000 held connections left the broker at
/// about 600 MiB long after they were gone. Every `period`, when at least `burst` more connections were open at some
/// point than are open now, `malloc_trim(0)` returns the arenas' free pages.
struct MemoryTrimService: Service {
    let connections: ConnectionCounter
    var period: Duration = .seconds(15)
    var burst = 1_000
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            let peak = connections.takePeak()
            guard peak - connections.current >= burst else { continue }
            #if canImport(Glibc)
            _ = glibcMallocTrim(0)
            logger.debug("memory trimmed after a burst of connections", metadata: ["peak": "\(peak)", "open": "\(connections.current)"])
            #endif
        }
    }
}

#if canImport(Glibc)
/// glibc's `int malloc_trim(size_t pad)` (declared in `malloc.h`, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
