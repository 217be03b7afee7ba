import Hummingbird
import HTTPTypes
import SkyportCore

/// Answers 413 at once to a request whose declared `Content-Length` is over the limit, before any of its body is
/// read, so that a client announcing 10 GB and sending 10 bytes gets an answer instead of an open connection.
/// Bodies without a declared length are still cut at the limit where they are read.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared.trimmingSpaces()), length >= 0 else {
                throw APIError.badRequest("Content-Length '\(declared.prefix(40))' is not a number of bytes", field: "Content-Length")
            }
            if length > maxBytes {
                throw APIError(.contentTooLarge, code: "body-too-large", "the request body is larger than \(maxBytes) bytes")
            }
        }
        return try await next(request, context)
    }
}
