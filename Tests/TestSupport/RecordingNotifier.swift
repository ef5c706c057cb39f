import Foundation
import Shared
import Synchronization

/// Records notices instead of sending them (for worker tests that are not about Discord itself).
public final class RecordingNotifier: Notifier {
    /// One recorded notice.
    public enum Notice: Sendable, Equatable {
        case reply(id: String, String)
        case channel(String, nonce: String)
        case console(String)
    }

    private let store = Mutex<[Notice]>([])

    /// Creates an empty recorder.
    public init() {}

    /// Everything so far.
    public var notices: [Notice] { store.withLock { $0 } }

    /// Channel texts, in order.
    public var channel: [String] { notices.compactMap { if case .channel(let t, _) = $0 { return t } else { return nil } } }

    /// Records an edit.
    public func editReply(_ interaction: PendingInteraction, content: String) async {
        store.withLock { $0.append(.reply(id: interaction.id, content)) }
    }

    /// Records a channel post.
    public func postChannel(_ content: String, nonce: String) async {
        store.withLock { $0.append(.channel(content, nonce: nonce)) }
    }

    /// Records console output.
    public func console(_ content: String) async {
        store.withLock { $0.append(.console(content)) }
    }
}
