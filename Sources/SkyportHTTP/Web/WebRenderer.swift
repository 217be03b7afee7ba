import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The web pages' templates (`Web/Templates`, compiled into the binary), parsed once, and the answers they make.
/// Every page extends `layout` (`{{<layout}}` with a `content` block); values are HTML-escaped by Mustache.
enum WebRenderer {
    static let library: MustacheLibrary = {
        let sources: [String: [UInt8]] = [
            "layout": PackageResources.layout_mustache, "ask": PackageResources.ask_mustache,
            "offerset": PackageResources.offerset_mustache, "session": PackageResources.session_mustache,
            "mine": PackageResources.mine_mustache, "facilities": PackageResources.facilities_mustache,
            "facility": PackageResources.facility_mustache, "edit": PackageResources.edit_mustache,
            "signin": PackageResources.signin_mustache, "error": PackageResources.error_mustache,
        ]
        var library = MustacheLibrary()
        for (name, bytes) in sources {
            // The templates are part of the binary and rendered by the tests; one that does not parse is a build defect.
            do { try library.register(String(decoding: bytes, as: UTF8.self), named: name) } catch {
                fatalError("the embedded template \(name).mustache does not parse: \(error)")
            }
        }
        return library
    }()

    /// A page: `template` rendered with `values` as HTML, with the headers every page carries.
    static func page(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let html = library.render(values, withTemplate: template) ?? ""
        var fields = WebSecurity.headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 See Other to `location` (after a form post, so that reloading does not post again).
    static func redirect(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = WebSecurity.headers
        fields[.location] = location
        fields.append(contentsOf: headers)
        return Response(status: .seeOther, headers: fields)
    }

    /// A static file of ours (the stylesheet, the script), cacheable for an hour.
    static func asset(_ bytes: [UInt8], type: String) -> Response {
        var fields = WebSecurity.headers
        fields[.contentType] = type
        fields[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
