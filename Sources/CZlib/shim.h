#include <zlib.h>

/* deflateInit2 and inflateInit2 are macros (they pass the library's version and stream size), which Swift cannot call. */
static inline int skyport_deflate_init(z_stream *s, int level, int window_bits, int mem_level) {
    return deflateInit2(s, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY);
}
static inline int skyport_inflate_init(z_stream *s, int window_bits) { return inflateInit2(s, window_bits); }
