/// Limits the server enforces on every request.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line plus header fields (and, for chunked bodies, trailers); beyond this → 431.
    public var maxHeadBytes: Int = 16 * 1024
    /// Header field count; beyond this → 431.
    public var maxHeaderCount: Int = 100
    /// Decoded body size; beyond this → 413.
    public var maxBodyBytes: Int = 1 << 20

    /// The defaults: 16 KiB head, 100 fields, 1 MiB body.
    public init() {}
}

/// An incremental HTTP/1.x request parser over a growing byte buffer.
///
/// The caller keeps every byte of the current request in one buffer, starting at the request's first byte,
/// and calls `parse` whenever more bytes arrive; the parser remembers how far it got so nothing is rescanned.
/// It is strict where leniency enables request smuggling (both `Content-Length` and `Transfer-Encoding`,
/// conflicting lengths, obsolete line folding, whitespace before a colon) and lenient where clients differ
/// harmlessly (bare LF line endings, empty lines before the request line).
struct HTTPRequestParser {
    /// What the parser made of the buffer so far.
    enum Outcome: Equatable {
        /// More bytes are needed. `sendContinue` is true once, when the client asked for `100 Continue`.
        case needMore(sendContinue: Bool)
        /// A complete request occupying `consumed` bytes of the buffer.
        case complete(Head, body: [UInt8], consumed: Int)
        /// The request is invalid; answer `status` and close the connection.
        case invalid(status: Int, reason: String)
    }

    /// The parsed request line and header fields.
    struct Head: Equatable {
        var method: String
        var target: String
        var minorVersion: Int
        var fields: [(name: String, value: String)]
        var keepAlive: Bool

        static func == (a: Head, b: Head) -> Bool {
            a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion
                && a.keepAlive == b.keepAlive && a.fields.map(\.name) == b.fields.map(\.name)
                && a.fields.map(\.value) == b.fields.map(\.value)
        }
    }

    private enum Framing {
        case length(Int)
        case chunked
    }

    private enum ChunkPhase {
        case size
        case data(Int)
        case trailers
    }

    private enum Phase {
        case head(scanFrom: Int)
        case body(Head, bodyStart: Int, Framing)
    }

    let limits: HTTPLimits
    private var phase: Phase = .head(scanFrom: 0)
    private var continueSent = false
    // Chunked decoding state.
    private var chunkPos = 0
    private var chunkStart = 0
    private var chunkPhase: ChunkPhase = .size
    private var chunkBody: [UInt8] = []
    private var trailerBytes = 0

    init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// True when no byte of a request has been examined yet (the connection is idle).
    var isAtStart: Bool {
        if case .head(let s) = phase { return s == 0 }
        return false
    }

    /// True once the head has been parsed and the body is being read.
    var isReadingBody: Bool {
        if case .body = phase { return true }
        return false
    }

    /// Parses as much of `buf` as possible.
    mutating func parse(_ buf: [UInt8]) -> Outcome {
        switch phase {
        case .head(let scanFrom):
            guard let end = Self.findHeadEnd(buf, from: scanFrom) else {
                if buf.count > limits.maxHeadBytes {
                    return .invalid(status: 431, reason: "request head larger than \(limits.maxHeadBytes) bytes")
                }
                // Resume a little before the end: the terminator may straddle two reads.
                phase = .head(scanFrom: max(0, buf.count - 3))
                return .needMore(sendContinue: false)
            }
            if end > limits.maxHeadBytes {
                return .invalid(status: 431, reason: "request head larger than \(limits.maxHeadBytes) bytes")
            }
            let parsed = parseHead(buf, end: end)
            switch parsed {
            case .failure(let status, let reason):
                return .invalid(status: status, reason: reason)
            case .success(let head, let framing, let expectContinue):
                phase = .body(head, bodyStart: end, framing)
                chunkPos = end
                chunkStart = end
                let outcome = continueBody(buf)
                if case .needMore = outcome, expectContinue, !continueSent {
                    continueSent = true
                    return .needMore(sendContinue: true)
                }
                return outcome
            }
        case .body:
            return continueBody(buf)
        }
    }

    private mutating func continueBody(_ buf: [UInt8]) -> Outcome {
        guard case .body(let head, let bodyStart, let framing) = phase else { return .needMore(sendContinue: false) }
        switch framing {
        case .length(let n):
            guard buf.count - bodyStart >= n else { return .needMore(sendContinue: false) }
            return .complete(head, body: Array(buf[bodyStart..<(bodyStart + n)]), consumed: bodyStart + n)
        case .chunked:
            return continueChunked(buf, head: head)
        }
    }

    private mutating func continueChunked(_ buf: [UInt8], head: Head) -> Outcome {
        while true {
            switch chunkPhase {
            case .size:
                // Framing overhead (chunk-size lines, extensions) counts too: a body of many tiny chunks with long
                // extensions must not buffer far more than the body limit.
                if chunkPos - chunkStart - chunkBody.count > limits.maxHeadBytes + limits.maxBodyBytes / 8 {
                    return .invalid(status: 413, reason: "chunked framing larger than allowed")
                }
                guard let lf = Self.indexOf(UInt8(ascii: "\n"), in: buf, from: chunkPos) else {
                    if buf.count - chunkPos > 1024 { return .invalid(status: 400, reason: "chunk size line too long") }
                    return .needMore(sendContinue: false)
                }
                // Chunk framing needs CRLF: a bare LF here is where a front proxy and this server could disagree.
                guard lf > chunkPos, buf[lf - 1] == UInt8(ascii: "\r") else {
                    return .invalid(status: 400, reason: "chunk size line must end with CRLF")
                }
                let lineEnd = lf - 1
                var size = 0
                var digits = 0
                var i = chunkPos
                while i < lineEnd, let v = Self.hexValue(buf[i]) {
                    size = size * 16 + v
                    digits += 1
                    i += 1
                    if digits > 8 { return .invalid(status: 413, reason: "chunk too large") }
                }
                guard digits > 0 else { return .invalid(status: 400, reason: "invalid chunk size") }
                // Only chunk extensions (`;name=value`) or whitespace before them may follow the size.
                if i < lineEnd {
                    var j = i
                    while j < lineEnd, buf[j] == 0x20 || buf[j] == 0x09 { j += 1 }
                    guard j < lineEnd, buf[j] == UInt8(ascii: ";") else {
                        return .invalid(status: 400, reason: "invalid chunk size")
                    }
                    for k in j..<lineEnd where buf[k] < 0x20 && buf[k] != 0x09 || buf[k] == 0x7F {
                        return .invalid(status: 400, reason: "invalid chunk extension")
                    }
                }
                chunkPos = lf + 1
                if size == 0 {
                    chunkPhase = .trailers
                } else {
                    if chunkBody.count + size > limits.maxBodyBytes {
                        return .invalid(status: 413, reason: "body larger than \(limits.maxBodyBytes) bytes")
                    }
                    chunkPhase = .data(size)
                }
            case .data(let size):
                // The chunk's bytes, then CRLF (or a bare LF).
                guard buf.count >= chunkPos + size + 1 else { return .needMore(sendContinue: false) }
                let after = chunkPos + size
                guard buf[after] == UInt8(ascii: "\r") else { return .invalid(status: 400, reason: "chunk not followed by CRLF") }
                guard buf.count >= after + 2 else { return .needMore(sendContinue: false) }
                guard buf[after + 1] == UInt8(ascii: "\n") else {
                    return .invalid(status: 400, reason: "chunk not followed by CRLF")
                }
                let next = after + 2
                chunkBody.append(contentsOf: buf[chunkPos..<after])
                chunkPos = next
                chunkPhase = .size
            case .trailers:
                guard let lf = Self.indexOf(UInt8(ascii: "\n"), in: buf, from: chunkPos) else {
                    if trailerBytes + (buf.count - chunkPos) > limits.maxHeadBytes {
                        return .invalid(status: 431, reason: "trailers too large")
                    }
                    return .needMore(sendContinue: false)
                }
                let lineLength = lf - chunkPos
                trailerBytes += lineLength + 1
                if trailerBytes > limits.maxHeadBytes { return .invalid(status: 431, reason: "trailers too large") }
                guard lineLength > 0, buf[lf - 1] == UInt8(ascii: "\r") else {
                    return .invalid(status: 400, reason: "trailer line must end with CRLF")
                }
                let empty = lineLength == 1
                chunkPos = lf + 1
                if empty {
                    let body = chunkBody
                    chunkBody = []
                    return .complete(head, body: body, consumed: chunkPos)
                }
            // Trailer fields are read and ignored.
            }
        }
    }

    private enum HeadResult {
        case success(Head, Framing, expectContinue: Bool)
        case failure(Int, String)
    }

    private func parseHead(_ buf: [UInt8], end: Int) -> HeadResult {
        // Split into lines (LF, optional preceding CR), skipping empty lines before the request line.
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i < end {
            if buf[i] == UInt8(ascii: "\n") {
                var lineEnd = i
                if lineEnd > start, buf[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let line = buf[start..<lineEnd]
                if !(line.isEmpty && lines.isEmpty) { lines.append(line) }
                start = i + 1
            }
            i += 1
        }
        // The last line is the empty terminator.
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let requestLine = lines.first else { return .failure(400, "empty request") }
        if lines.count - 1 > limits.maxHeaderCount {
            return .failure(431, "more than \(limits.maxHeaderCount) header fields")
        }

        // Request line: method SP target SP HTTP-version.
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(400, "malformed request line") }
        let methodBytes = parts[0]
        let targetBytes = parts[1]
        let versionBytes = parts[2]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(Self.isTokenChar) else {
            return .failure(400, "malformed method")
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(400, "malformed request target")
        }
        let minor: Int
        if versionBytes.elementsEqual("HTTP/1.1".utf8) {
            minor = 1
        } else if versionBytes.elementsEqual("HTTP/1.0".utf8) {
            minor = 0
        } else if versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8) {
            return .failure(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        } else {
            return .failure(400, "malformed HTTP version")
        }

        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            guard let first = line.first else { return .failure(400, "empty header line") }
            if first == 0x20 || first == 0x09 { return .failure(400, "obsolete line folding is not accepted") }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(400, "header without colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(Self.isTokenChar) else { return .failure(400, "malformed header name") }
            var vs = colon + 1
            var ve = line.endIndex
            while vs < ve, line[vs] == 0x20 || line[vs] == 0x09 { vs += 1 }
            while ve > vs, line[ve - 1] == 0x20 || line[ve - 1] == 0x09 { ve -= 1 }
            let value = line[vs..<ve]
            for c in value where (c < 0x20 && c != 0x09) || c == 0x7F {
                return .failure(400, "control character in header value")
            }
            fields.append((name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
        }
        let headers = HTTPHeaders(fields.map { ($0.name, $0.value) })

        let hosts = headers.values("Host")
        if minor == 1, hosts.count != 1 { return .failure(400, "exactly one Host header is required") }
        if hosts.count > 1 { return .failure(400, "more than one Host header") }

        var keepAlive = minor == 1
        for v in headers.values("Connection") {
            for token in v.split(separator: ",") {
                let t = token.trimmingCharacters(in: .whitespaces).lowercased()
                if t == "close" { keepAlive = false }
                if t == "keep-alive", minor == 0 { keepAlive = true }
            }
        }

        let method = String(decoding: methodBytes, as: UTF8.self)
        let te = headers.values("Transfer-Encoding")
        let cl = headers.values("Content-Length")
        let framing: Framing
        if !te.isEmpty {
            if !cl.isEmpty { return .failure(400, "both Content-Length and Transfer-Encoding") }
            if minor == 0 { return .failure(400, "Transfer-Encoding in an HTTP/1.0 request") }
            let codings = te.flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            guard codings == ["chunked"] else {
                if codings.last != "chunked" { return .failure(400, "the last transfer coding must be chunked") }
                return .failure(501, "only the chunked transfer coding is supported")
            }
            framing = .chunked
        } else if !cl.isEmpty {
            var length: Int? = nil
            for v in cl {
                for item in v.split(separator: ",", omittingEmptySubsequences: false) {
                    let s = item.trimmingCharacters(in: .whitespaces)
                    guard !s.isEmpty, s.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(s)
                    else {
                        return .failure(400, "invalid Content-Length")
                    }
                    if let l = length, l != n { return .failure(400, "conflicting Content-Length values") }
                    length = n
                }
            }
            guard let n = length else { return .failure(400, "invalid Content-Length") }
            if n > limits.maxBodyBytes { return .failure(413, "body larger than \(limits.maxBodyBytes) bytes") }
            framing = .length(n)
        } else if method == "POST" || method == "PUT" || method == "PATCH" {
            return .failure(411, "a body needs Content-Length or chunked Transfer-Encoding")
        } else {
            framing = .length(0)
        }

        var expectContinue = false
        if let expect = headers["Expect"] {
            guard expect.lowercased() == "100-continue" else { return .failure(417, "unsupported expectation") }
            if minor == 1 {
                if case .length(let n) = framing { expectContinue = n > 0 } else { expectContinue = true }
            }
        }

        let head = Head(
            method: method, target: String(decoding: targetBytes, as: UTF8.self), minorVersion: minor,
            fields: fields, keepAlive: keepAlive)
        return .success(head, framing, expectContinue: expectContinue)
    }

    /// The index just past the empty line that ends the head, or `nil`.
    static func findHeadEnd(_ buf: [UInt8], from: Int) -> Int? {
        // Leading empty lines (before the request line) are skipped, so look for LF (CR) LF after content.
        var i = from
        let n = buf.count
        var sawContent = from > 0
        while i < n {
            let c = buf[i]
            if c == UInt8(ascii: "\n") {
                if sawContent {
                    // Empty line: LF LF or LF CR LF.
                    if i + 1 < n, buf[i + 1] == UInt8(ascii: "\n") { return i + 2 }
                    if i + 2 < n, buf[i + 1] == UInt8(ascii: "\r"), buf[i + 2] == UInt8(ascii: "\n") { return i + 3 }
                }
            } else if c != UInt8(ascii: "\r") {
                sawContent = true
            }
            i += 1
        }
        return nil
    }

    static func indexOf(_ byte: UInt8, in buf: [UInt8], from: Int) -> Int? {
        var i = from
        while i < buf.count {
            if buf[i] == byte { return i }
            i += 1
        }
        return nil
    }

    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: Int(c - 0x30)
        case 0x41...0x46: Int(c - 0x41 + 10)
        case 0x61...0x66: Int(c - 0x61 + 10)
        default: nil
        }
    }

    /// RFC 9110 `tchar`.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
