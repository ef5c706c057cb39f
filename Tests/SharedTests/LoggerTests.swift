import Foundation
import Shared
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Logging")
struct LoggerTests {
    @Test("JSON handler writes one parseable object per line with level, label, message and metadata")
    func jsonLines() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let logger = Logger(label: "skald.test", level: .debug, handler: JSONLogHandler(fd: fds[1]))
        logger.info("hello \"world\"\nnext", metadata: ["interaction.id": "42", "count": 3, "ok": true])
        logger.debug("second")
        logger.trace("filtered out")
        close(fds[1])
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        close(fds[0])
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "skald.test")
        #expect(first["msg"] as? String == "hello \"world\"\nnext")
        #expect(first["interaction.id"] as? String == "42")
        #expect(first["count"] as? Int == 3)
        #expect(first["ok"] as? Bool == true)
        #expect(first["ts"] is String)
    }

    @Test("tokens, signatures, secrets and keys are never printed")
    func redaction() {
        let store = InMemoryLogHandler()
        let logger = Logger(label: "t", level: .trace, handler: store)
        logger.info(
            "x",
            metadata: [
                "interaction.token": "tok-123", "discord.bot_token": "bot-456", "signature": "sig-789",
                "azure.account_key": "key-000", "Authorization": "Bearer abc", "password": "pw", "user.id": "7",
            ])
        let line = store.renderedLines.joined()
        for secret in ["tok-123", "bot-456", "sig-789", "key-000", "Bearer abc", "pw"] {
            #expect(!line.contains(secret), "\(secret) leaked")
        }
        #expect(line.contains("user.id=7"))
    }

    @Test("levels below the logger's level are not even built")
    func levelFilteringIsLazy() {
        let store = InMemoryLogHandler()
        let logger = Logger(label: "t", level: .warning, handler: store)
        nonisolated(unsafe) var built = false
        logger.info({ built = true; return "expensive" }())
        #expect(!built)
        #expect(store.records.isEmpty)
    }
}
