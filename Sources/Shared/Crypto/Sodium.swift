import CSodium
import Foundation

/// libsodium entry points used by Skald: Ed25519 verification, HMAC-SHA256, SHA-256, constant-time comparison.
///
/// Every function here calls libsodium; nothing is hand-rolled.
public enum Sodium {
    /// Initialises libsodium once; safe to call from any thread, any number of times.
    private static let initialised: Bool = sodium_init() >= 0

    static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise")
    }
}

/// An Ed25519 public key (32 bytes) that verifies detached signatures.
public struct Ed25519PublicKey: Sendable, Equatable {
    /// The raw 32 key bytes.
    public let bytes: [UInt8]

    /// Creates a key from 32 raw bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Int(crypto_sign_PUBLICKEYBYTES) else { return nil }
        self.bytes = bytes
    }

    /// Creates a key from 64 hex characters (Discord's "Public Key"); `nil` when malformed.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// Verifies `signature` over `message`. Returns only a Bool: why a signature failed is never explained.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        Sodium.ensureInitialised()
        guard signature.count == Int(crypto_sign_BYTES) else { return false }
        return signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                bytes.withUnsafeBufferPointer { key in
                    crypto_sign_verify_detached(
                        sig.baseAddress!, msg.baseAddress ?? UnsafePointer(bitPattern: 1)!,
                        UInt64(msg.count), key.baseAddress!) == 0
                }
            }
        }
    }

    /// Verifies Discord's scheme: the signature covers the timestamp string followed by the raw body bytes.
    public func verifyDiscord(signatureHex: String, timestamp: String, body: [UInt8]) -> Bool {
        guard let signature = Hex.decode(signatureHex), signature.count == Int(crypto_sign_BYTES) else { return false }
        var message = [UInt8]()
        message.reserveCapacity(timestamp.utf8.count + body.count)
        message.append(contentsOf: timestamp.utf8)
        message.append(contentsOf: body)
        return verify(signature: signature, message: message)
    }
}

/// An Ed25519 signing key; used by tests, benchmarks and tooling that play Discord's part.
public struct Ed25519SigningKey: Sendable {
    /// The 64-byte libsodium secret key (seed followed by public key).
    private let secret: [UInt8]
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// Derives a key pair from a 32-byte seed.
    public init?(seed: [UInt8]) {
        Sodium.ensureInitialised()
        guard seed.count == Int(crypto_sign_SEEDBYTES) else { return nil }
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        guard crypto_sign_seed_keypair(&pk, &sk, seed) == 0, let key = Ed25519PublicKey(bytes: pk) else { return nil }
        secret = sk
        publicKey = key
    }

    /// A fresh random key pair.
    public static func random() -> Ed25519SigningKey {
        Ed25519SigningKey(seed: SecureRandom.bytes(Int(crypto_sign_SEEDBYTES)))!
    }

    /// Signs `message`, returning the 64-byte detached signature.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        var sigLen: UInt64 = 0
        message.withUnsafeBufferPointer { msg in
            _ = crypto_sign_detached(
                &sig, &sigLen, msg.baseAddress ?? UnsafePointer(bitPattern: 1)!, UInt64(msg.count), secret)
        }
        return sig
    }

    /// Signs as Discord does: hex signature over timestamp + body.
    public func signDiscord(timestamp: String, body: [UInt8]) -> String {
        Hex.encode(sign(Array(timestamp.utf8) + body))
    }
}

/// SHA-256 and HMAC-SHA256 through libsodium.
public enum Digest {
    /// SHA-256 of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        data.withUnsafeBufferPointer { buf in
            _ = crypto_hash_sha256(&out, buf.baseAddress ?? UnsafePointer(bitPattern: 1)!, UInt64(buf.count))
        }
        return out
    }

    /// SHA-256 of a string's UTF-8 bytes.
    public static func sha256(_ string: String) -> [UInt8] { sha256(Array(string.utf8)) }

    /// HMAC-SHA256 with a key of any length (libsodium's one-shot API needs exactly 32 bytes, so use init/update/final).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialised()
        var state = crypto_auth_hmacsha256_state()
        var out = [UInt8](repeating: 0, count: Int(crypto_auth_hmacsha256_BYTES))
        key.withUnsafeBufferPointer { k in
            _ = crypto_auth_hmacsha256_init(&state, k.baseAddress ?? UnsafePointer(bitPattern: 1)!, k.count)
        }
        message.withUnsafeBufferPointer { m in
            _ = crypto_auth_hmacsha256_update(&state, m.baseAddress ?? UnsafePointer(bitPattern: 1)!, UInt64(m.count))
        }
        _ = crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    /// HMAC-SHA256 of a string message.
    public static func hmacSHA256(key: [UInt8], message: String) -> [UInt8] {
        hmacSHA256(key: key, message: Array(message.utf8))
    }

    /// Compares two secrets in time that does not depend on where they differ, nor on their lengths
    /// (both sides are hashed first, so only equal-length digests reach `sodium_memcmp`).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let da = sha256(a)
        let db = sha256(b)
        return da.withUnsafeBufferPointer { pa in
            db.withUnsafeBufferPointer { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, pa.count) == 0 }
        }
    }
}

/// Cryptographically secure random bytes from libsodium.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { randombytes_buf($0.baseAddress!, $0.count) }
        return out
    }

    /// A random lowercase hex string of `byteCount` bytes.
    public static func hex(_ byteCount: Int) -> String { Hex.encode(bytes(byteCount)) }
}

/// Lowercase hex encoding and strict decoding.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); `nil` on odd length or a non-hex character.
    public static func decode(_ string: String) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = value(utf8[i]), let lo = value(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
