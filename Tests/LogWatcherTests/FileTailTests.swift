import Foundation
import LogWatcher
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

func append(_ path: String, _ text: String) { LogFiles.append(path, text) }

/// Reads lines from a source until `count` lines arrived or `timeout` passed (on its own thread).
func collect(_ source: FileTailSource, count: Int, timeout: Double = 10) async -> [String] {
    final class Box: @unchecked Sendable { let s: FileTailSource; init(_ s: FileTailSource) { self.s = s } }
    let box = Box(source)
    return (try? await Blocking.run {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while out.count < count, Date() < deadline {
            out += box.s.readLines(max: 100, wait: 0.1).map { String(decoding: $0.bytes, as: UTF8.self) }
        }
        return out
    }) ?? []
}

@Suite("File tail: rotation, truncation, partial lines, resume")
struct FileTailTests {
    @Test("lines arrive in order; a partial last line waits for its newline")
    func partialLine() async {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/game.log"
        append(path, "one\ntwo\nthr")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        #expect(await collect(s, count: 2) == ["one", "two"])
        #expect(await collect(s, count: 1, timeout: 0.5) == [])
        append(path, "ee\n")
        #expect(await collect(s, count: 1) == ["three"])
    }

    @Test("waits for a file that does not exist yet")
    func waitsForFile() async {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/later.log"
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        #expect(await collect(s, count: 1, timeout: 0.3) == [])
        append(path, "hello\n")
        #expect(await collect(s, count: 1) == ["hello"])
    }

    @Test("rotation by rename: the old file is finished (partial last line included), then the new one from its start")
    func rotationByRename() async {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/game.log"
        append(path, "a1\na2\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        #expect(await collect(s, count: 2) == ["a1", "a2"])
        append(path, "a3\na4-no-newline")
        rename(path, path + ".1")
        append(path, "b1\nb2\n")
        #expect(await collect(s, count: 4) == ["a3", "a4-no-newline", "b1", "b2"])
    }

    @Test("rotation by truncation (copytruncate): reading starts again at the start")
    func rotationByTruncation() async {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/game.log"
        append(path, "old line one\nold line two\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        #expect(await collect(s, count: 2) == ["old line one", "old line two"])
        truncate(path, 0)
        append(path, "new\n")
        #expect(await collect(s, count: 1) == ["new"])
    }

    @Test("resume: exactly after the last line handed out, even when the file was rotated meanwhile")
    func resume() async throws {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/game.log"
        append(path, "l1\nl2\nl3\n")
        let first = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        #expect(await collect(first, count: 3) == ["l1", "l2", "l3"])
        let saved = first.position
        first.close()
        append(path, "l4\n")
        let second = FileTailSource(path: path, resumeFrom: saved, logger: .disabled())
        #expect(await collect(second, count: 1) == ["l4"])
        let saved2 = second.position
        second.close()
        // Rotated while nothing was watching: l5 went into the old file, l6 into the new one.
        append(path, "l5\n")
        rename(path, path + ".1")
        append(path, "l6\n")
        let third = FileTailSource(path: path, resumeFrom: saved2, logger: .disabled())
        #expect(await collect(third, count: 2) == ["l5", "l6"])
    }

    @Test("line keys are stable file positions")
    func keys() async {
        let dir = TestPaths.temporaryDirectory("tail")
        let path = dir + "/game.log"
        append(path, "abc\nde\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        final class Box: @unchecked Sendable { let s: FileTailSource; init(_ s: FileTailSource) { self.s = s } }
        let box = Box(s)
        let lines = (try? await Blocking.run { box.s.readLines(max: 10, wait: 1) }) ?? []
        #expect(lines.count == 2)
        #expect(lines[0].key.hasSuffix(":0") && lines[1].key.hasSuffix(":4"))
        #expect(lines[0].key.split(separator: ":")[0] == lines[1].key.split(separator: ":")[0])
    }
}

@Suite("File tail: truncation generations and positions across rotation")
struct FileTailGenerationTests {
    final class Box: @unchecked Sendable {
        let s: FileTailSource
        init(_ s: FileTailSource) { self.s = s }
    }

    static func keys(_ s: FileTailSource, count: Int) async -> [String] {
        let box = Box(s)
        return (try? await Blocking.run {
            var out: [String] = []
            let deadline = Date().addingTimeInterval(5)
            while out.count < count, Date() < deadline { out += box.s.readLines(max: 100, wait: 0.1).map(\.key) }
            return out
        }) ?? []
    }

    @Test("after a truncation the same offsets get new ids (nothing is mistaken for a duplicate)")
    func truncationChangesIDs() async {
        let dir = TestPaths.temporaryDirectory("gen")
        let path = dir + "/game.log"
        append(path, "11/20/2026 19:58:12: Game server connected\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        let first = await Self.keys(s, count: 1)
        truncate(path, 0)
        try? await Task.sleep(for: .milliseconds(150))
        // The game's next run writes the same kind of line, at the same offset, a second later.
        append(path, "11/20/2026 19:58:13: Game server connected\n")
        let second = await Self.keys(s, count: 1)
        #expect(first.count == 1 && second.count == 1)
        #expect(first[0] != second[0])
        #expect(second[0].hasSuffix(".t1:0"))
    }

    @Test("a file truncated and rewritten past the saved offset while stopped is read again from its start")
    func truncatedWhileStopped() async {
        let dir = TestPaths.temporaryDirectory("gen")
        let path = dir + "/game.log"
        append(path, "11/20/2026 19:58:02: Valheim version: l-0.219.16 (network version 34) run one\nline two\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        _ = await Self.keys(s, count: 2)
        let saved = s.position
        s.close()
        // Restarted game: same file (same inode), new content longer than the saved offset.
        truncate(path, 0)
        append(path, "11/21/2026 07:00:00: Valheim version: l-0.219.16 (network version 34) run two\n11/21/2026 07:00:09: Game server connected\nmore\n")
        let again = FileTailSource(path: path, resumeFrom: saved, logger: .disabled())
        let box = Box(again)
        let lines = (try? await Blocking.run { box.s.readLines(max: 10, wait: 1) }) ?? []
        #expect(lines.count == 3)
        let firstText = String(decoding: lines.first?.bytes ?? [], as: UTF8.self)
        #expect(firstText.hasSuffix("run two"))
        #expect(lines.first.map { $0.key.hasSuffix(".t1:0") } == true)
    }

    @Test("after a rotation, the position names the old file until a line of the new one is handed out")
    func positionAcrossRotation() async {
        let dir = TestPaths.temporaryDirectory("gen")
        let path = dir + "/game.log"
        append(path, "a1\n")
        let s = FileTailSource(path: path, resumeFrom: nil, logger: .disabled())
        _ = await Self.keys(s, count: 1)
        guard case .file(let oldID, _, _) = s.position else {
            Issue.record("no file position")
            return
        }
        append(path, "a2\n")
        rename(path, path + ".1")
        append(path, "b1\n")
        let box = Box(s)
        let one = (try? await Blocking.run { () -> [SourceLine] in
            var out: [SourceLine] = []
            let deadline = Date().addingTimeInterval(5)
            while out.isEmpty, Date() < deadline { out = box.s.readLines(max: 1, wait: 0.1) }
            return out
        }) ?? []
        #expect(one.count == 1)
        guard case .file(let id1, let off1, _) = s.position else { return }
        #expect(id1 == oldID && off1 == 6)
        _ = await Self.keys(s, count: 1)
        guard case .file(let id2, let off2, _) = s.position else { return }
        #expect(id2 != oldID && off2 == 3)
    }
}
