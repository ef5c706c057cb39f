import Foundation
import Shared
import Testing

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test("formats UTC with milliseconds only when present, and parses its own output")
    func formatAndParse() throws {
        let d = Date(timeIntervalSince1970: 1_795_341_600)  // 2026-11-22T10:00:00Z
        #expect(Timestamp.format(d) == "2026-11-22T10:00:00Z")
        #expect(Timestamp.parse("2026-11-22T10:00:00Z") == d)
        let withMillis = Date(timeIntervalSince1970: 1_795_341_600.25)
        #expect(Timestamp.format(withMillis) == "2026-11-22T10:00:00.250Z")
        let parsed = try #require(Timestamp.parse("2026-11-22T10:00:00.250Z"))
        #expect(abs(parsed.timeIntervalSince1970 - withMillis.timeIntervalSince1970) < 0.0005)
    }

    @Test("offsets, lowercase and space separators parse to the same instant")
    func offsets() {
        let utc = Timestamp.parse("2026-11-22T10:00:00Z")
        #expect(Timestamp.parse("2026-11-22T11:30:00+01:30") == utc)
        #expect(Timestamp.parse("2026-11-22T05:00:00-05:00") == utc)
        #expect(Timestamp.parse("2026-11-22 10:00:00z") == utc)
    }

    @Test("rejects malformed times", arguments: [
        "", "2026-11-22", "2026-11-22T10:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-22T25:00:00Z", "2026-11-22T10:00:00+0100", "2026-11-22T10:00:00Zjunk", "abcd-ef-ghTij:kl:mnZ",
        "2026-11-22T10:00:00.Z",
    ])
    func rejectsMalformed(_ s: String) {
        #expect(Timestamp.parse(s) == nil)
    }

    @Test("leap days and pre-1970 dates round-trip")
    func calendarEdges() {
        for s in ["2024-02-29T23:59:59Z", "2000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2100-03-01T00:00:00Z"] {
            #expect(Timestamp.parse(s).map(Timestamp.format) == s)
        }
    }
}
