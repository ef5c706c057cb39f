import Foundation

/// HTTP header fields in order, with case-insensitive lookup.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The fields as received or added.
    public private(set) var fields: [(name: String, value: String)] = []

    /// Creates empty headers.
    public init() {}

    /// Creates headers from name/value pairs.
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    /// Creates headers from a literal.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value for `name`, ignoring case.
    public subscript(_ name: String) -> String? {
        for f in fields where f.name.caseInsensitiveEquals(name) { return f.value }
        return nil
    }

    /// Every value for `name`, ignoring case.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// True when a field named `name` is present.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Appends a field.
    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field named `name` with one.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    /// Removes every field named `name`.
    public mutating func remove(_ name: String) { fields.removeAll { $0.name.caseInsensitiveEquals(name) } }

    /// Iterates the fields.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// A debugging rendering (values of sensitive headers redacted).
    public var description: String {
        fields.map { f in
            let lower = f.name.lowercased()
            let v = lower == "authorization" || lower.hasPrefix("x-signature") ? "[redacted]" : f.value
            return "\(f.name): \(v)"
        }.joined(separator: ", ")
    }
}

extension String {
    /// ASCII case-insensitive equality, without allocating.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8
        let b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 0x41 && x <= 0x5A) ? x | 0x20 : x
            let ly = (y >= 0x41 && y <= 0x5A) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }
}

/// A complete HTTP/1.x request as the server hands it to a handler.
public struct HTTPRequest: Sendable {
    /// The method, as sent (`GET`, `POST`, …).
    public var method: String
    /// The request target, as sent (`/interactions?x=1`).
    public var target: String
    /// HTTP minor version (0 or 1).
    public var minorVersion: Int
    /// Header fields.
    public var headers: HTTPHeaders
    /// The body, de-chunked.
    public var body: [UInt8]
    /// The peer's address, `ip:port`.
    public var remoteAddress: String

    /// Creates a request (tests and in-process callers).
    public init(
        method: String, target: String, minorVersion: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [], remoteAddress: String = "local"
    ) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The path part of the target (before `?`).
    public var path: String {
        if let q = target.firstIndex(of: "?") { return String(target[..<q]) }
        return target
    }

    /// The query part of the target (after `?`), if any.
    public var query: String? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: q)...])
    }
}

/// A response a handler returns.
public struct HTTPResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Header fields (the server adds `Content-Length`, `Date` and `Connection`).
    public var headers: HTTPHeaders
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ status: Int = 200, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
    }

    /// A JSON response from an `Encodable` value.
    public static func json<T: Encodable>(_ status: Int = 200, encoding value: T) -> HTTPResponse {
        let data = (try? JSONCoding.encoder.encode(value)) ?? Data("{}".utf8)
        return json(status, Array(data))
    }

    /// A JSON error body: `{"error": message}`.
    public static func error(_ status: Int, _ message: String) -> HTTPResponse {
        var w = JSONLineWriter()
        w.field("error", message)
        return json(status, w.finish())
    }

    /// A plain-text response.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// The standard reason phrase for a status code.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// Handles requests. Called concurrently; must answer every request (it cannot fail, it returns a status).
public protocol HTTPHandler: Sendable {
    /// Produces the response for one request.
    func handle(_ request: HTTPRequest) async -> HTTPResponse
}

/// Shared JSON coders with stable output (sorted keys, no escaped slashes).
public enum JSONCoding {
    /// An encoder with sorted keys and RFC 3339 dates.
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.format(date))
        }
        return e
    }

    /// A decoder accepting RFC 3339 dates.
    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = Timestamp.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 time: \(s.prefix(40))")
            }
            return date
        }
        return d
    }
}
