import Foundation
import Shared
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test("every missing and invalid setting is reported at once, without echoing values")
    func reportsEveryProblem() throws {
        var r = ConfigReader(environment: [
            "SKALD_LISTEN": "not-an-address",
            "SKALD_IDLE_MINUTES": "-3",
            "SKALD_SERVER": "bad name!",
            "SECRET_ONE": "hunter2-secret",
        ])
        _ = r.required("DISCORD_PUBLIC_KEY", "64 hex characters", Ed25519PublicKey.init(hex:))
        _ = r.optional("SKALD_LISTEN", default: HostPort(host: "127.0.0.1", port: 8080), "host:port", ConfigParse.hostPort)
        _ = r.optional("SKALD_IDLE_MINUTES", default: 900, "a positive number of minutes", ConfigParse.positiveMinutes)
        _ = r.optional("SKALD_SERVER", default: "valheim", "a server name", ConfigParse.serverName)
        _ = r.required("SECRET_ONE", "a number", { Int($0) })
        let error = try #require(throws: ConfigError.self) { try r.finish() }
        #expect(error.problems.map(\.key) == ["DISCORD_PUBLIC_KEY", "SKALD_LISTEN", "SKALD_IDLE_MINUTES", "SKALD_SERVER", "SECRET_ONE"])
        #expect(error.problems[0].message.hasPrefix("missing"))
        #expect(error.problems[1].message.hasPrefix("invalid"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test("blank values count as unset and defaults apply")
    func blanksAreUnset() throws {
        var r = ConfigReader(environment: ["SKALD_SERVER": "   ", "SKALD_IDLE_MINUTES": "0.5"])
        #expect(r.optional("SKALD_SERVER", default: "valheim", "name", ConfigParse.serverName) == "valheim")
        #expect(r.optional("SKALD_IDLE_MINUTES", default: 900, "minutes", ConfigParse.positiveMinutes) == 30)
        try r.finish()
    }

    @Test("host:port parsing, IPv6 in brackets")
    func hostPort() {
        #expect(HostPort(parsing: "127.0.0.1:8080") == HostPort(host: "127.0.0.1", port: 8080))
        #expect(HostPort(parsing: "[::1]:0") == HostPort(host: "::1", port: 0))
        #expect(HostPort(parsing: "0.0.0.0:65535")?.port == 65535)
        #expect(HostPort(parsing: "localhost") == nil)
        #expect(HostPort(parsing: ":80") == nil)
        #expect(HostPort(parsing: "host:70000") == nil)
        #expect(HostPort(parsing: "::1:80") == nil)
    }

    @Test("snowflake lists reject anything but digits")
    func snowflakes() {
        #expect(ConfigParse.snowflakeList("1, 22 ,333") == ["1", "22", "333"])
        #expect(ConfigParse.snowflakeList("1,abc") == nil)
        #expect(ConfigParse.snowflakeList(" , ") == nil)
    }
}
