import Foundation

/// What a settled scale operation reports.
public struct ScaleResult: Sendable, Equatable {
    /// The capacity now in effect (0 or 1).
    public var capacity: Int
    /// The address players connect to, when the host is up and it is known.
    public var address: String?

    /// Creates a result.
    public init(capacity: Int, address: String?) {
        self.capacity = capacity
        self.address = address
    }
}

/// Why a scale operation failed.
public struct ScaleError: Error, CustomStringConvertible {
    /// A short reason, safe to show in Discord (no secrets, no long output).
    public var reason: String
    /// True when retrying later may help.
    public var transient: Bool

    /// Creates an error.
    public init(_ reason: String, transient: Bool = false) {
        self.reason = reason
        self.transient = transient
    }

    /// The reason.
    public var description: String { reason }
}

/// The scale-set seam: the game host's desired capacity, 0 or 1.
///
/// Backends: command hooks on the local host (embedded default), an Azure VM scale set, an AWS Auto Scaling
/// group. `setCapacity` returns once the change has settled (the host is up, or down with the world saved).
/// It must be idempotent: setting the capacity it already has succeeds.
public protocol ScaleSet: Sendable {
    /// The backend's name for logs.
    var backendDescription: String { get }
    /// Scales to `capacity` and waits until it has settled.
    func setCapacity(_ capacity: Int) async throws(ScaleError) -> ScaleResult
}
