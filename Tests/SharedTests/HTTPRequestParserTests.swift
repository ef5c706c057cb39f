import Foundation
import Testing

@testable import Shared

@Suite("HTTP/1.1 request parser")
struct HTTPRequestParserTests {
    enum Result: Equatable {
        case needMore
        case complete(method: String, target: String, body: String, consumed: Int, keepAlive: Bool)
        case invalid(Int)
    }

    static func parse(_ text: String, limits: HTTPLimits = HTTPLimits(), byteByByte: Bool = false) -> Result {
        parse(Array(text.utf8), limits: limits, byteByByte: byteByByte)
    }

    static func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), byteByByte: Bool = false) -> Result {
        var p = HTTPRequestParser(limits: limits)
        var outcome: HTTPRequestParser.Outcome = .needMore(sendContinue: false)
        if byteByByte {
            for i in 1...bytes.count {
                outcome = p.parse(Array(bytes[0..<i]))
                if case .needMore = outcome { continue }
                break
            }
        } else {
            outcome = p.parse(bytes)
        }
        switch outcome {
        case .needMore: return .needMore
        case .invalid(let status, _): return .invalid(status)
        case .complete(let head, let body, let consumed):
            return .complete(
                method: head.method, target: head.target, body: String(decoding: body, as: UTF8.self),
                consumed: consumed, keepAlive: head.keepAlive)
        }
    }

    @Test("a simple GET, whole or one byte at a time")
    func simpleGet() {
        let req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        let expected = Result.complete(method: "GET", target: "/healthz", body: "", consumed: req.utf8.count, keepAlive: true)
        #expect(Self.parse(req) == expected)
        #expect(Self.parse(req, byteByByte: true) == expected)
    }

    @Test("Content-Length bodies, also split across reads")
    func contentLength() {
        let req = "POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"type\":1}"
        let expected = Result.complete(method: "POST", target: "/interactions", body: "{\"type\":1}", consumed: req.utf8.count, keepAlive: true)
        #expect(Self.parse(req) == expected)
        #expect(Self.parse(req, byteByByte: true) == expected)
        #expect(Self.parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"ty") == .needMore)
    }

    @Test("pipelined requests: only the first is consumed")
    func pipelining() {
        let one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        let two = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(Self.parse(one + two) == .complete(method: "GET", target: "/a", body: "", consumed: one.utf8.count, keepAlive: true))
    }

    @Test("chunked bodies are decoded, with extensions and trailers")
    func chunked() {
        let req = "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: y\r\n\r\n"
        let expected = Result.complete(method: "POST", target: "/events", body: "Wikipedia in\r\n\r\nchunks.", consumed: req.utf8.count, keepAlive: true)
        #expect(Self.parse(req) == expected)
        #expect(Self.parse(req, byteByByte: true) == expected)
    }

    @Test("keep-alive defaults: 1.1 on unless close, 1.0 off unless keep-alive")
    func keepAlive() {
        let close = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        #expect(Self.parse(close) == .complete(method: "GET", target: "/", body: "", consumed: close.utf8.count, keepAlive: false))
        #expect(Self.parse("GET / HTTP/1.0\r\n\r\n") == .complete(method: "GET", target: "/", body: "", consumed: 18, keepAlive: false))
        #expect(Self.parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == .complete(method: "GET", target: "/", body: "", consumed: 42, keepAlive: true))
    }

    @Test("lenient where harmless: bare LF line endings and leading empty lines")
    func lenient() {
        #expect(Self.parse("GET / HTTP/1.1\nHost: x\n\n") == .complete(method: "GET", target: "/", body: "", consumed: 24, keepAlive: true))
        #expect(Self.parse("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") == .complete(method: "GET", target: "/", body: "", consumed: 29, keepAlive: true))
    }

    @Test("refusals with the right status", arguments: [
        ("GET / HTTP/1.1\r\n\r\n", 400),  // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET / FTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /\u{7f} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\n", 417),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: a\u{1}b\r\n\r\n", 400),
    ])
    func refusals(_ request: String, _ status: Int) {
        #expect(Self.parse(request) == .invalid(status), "\(request.debugDescription)")
    }

    @Test("equal repeated Content-Length values are accepted")
    func equalLengths() {
        let req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
        #expect(Self.parse(req) == .complete(method: "POST", target: "/", body: "ok", consumed: req.utf8.count, keepAlive: true))
    }

    @Test("a head over 16 KiB is 431, whether or not it is complete")
    func headLimit() {
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 17_000)
        #expect(Self.parse(big) == .invalid(431))
        #expect(Self.parse(big + "\r\n\r\n") == .invalid(431))
        var many = "GET / HTTP/1.1\r\nHost: x\r\n"
        for i in 0..<120 { many += "X-\(i): y\r\n" }
        #expect(Self.parse(many + "\r\n") == .invalid(431))
    }

    @Test("chunk framing requires CRLF: a bare LF there is refused (no disagreement with a front proxy)")
    func chunkFramingNeedsCRLF() {
        #expect(Self.parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n") == .invalid(400))
        #expect(Self.parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n") == .invalid(400))
        #expect(Self.parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n") == .invalid(400))
    }

    @Test("tiny chunks with long extensions cannot buffer far more than the body limit")
    func chunkFramingOverhead() {
        var req = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        let ext = String(repeating: "x", count: 1000)
        for _ in 0..<200 { req += "1;\(ext)\r\nA\r\n" }
        #expect(Self.parse(req) == .invalid(413))
    }

    @Test("a chunked body over the limit is 413")
    func chunkedBodyLimit() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        #expect(Self.parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", limits: limits) == .invalid(413))
    }

    @Test("Expect: 100-continue asks for an interim response once")
    func expectContinue() {
        var p = HTTPRequestParser(limits: HTTPLimits())
        let head = Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n".utf8)
        #expect(p.parse(head) == .needMore(sendContinue: true))
        #expect(p.parse(head + [0x61]) == .needMore(sendContinue: false))
        if case .complete(_, let body, _) = p.parse(head + Array("abc".utf8)) {
            #expect(body == Array("abc".utf8))
        } else {
            Issue.record("not complete")
        }
    }

    @Test("random bytes never crash the parser")
    func garbage() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<300, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { bytes = Array("POST / HTTP/1.1\r\nHost: x\r\n".utf8) + bytes }
            _ = Self.parse(bytes)
        }
    }
}
