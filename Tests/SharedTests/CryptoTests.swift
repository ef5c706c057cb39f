import Foundation
import Shared
import TestSupport
import Testing

@Suite("Crypto through libsodium")
struct CryptoTests {
    struct Vector: Decodable {
        var name: String
        var public_key: String
        var timestamp: String
        var body_base64: String
        var signature: String
        var valid: Bool
    }

    struct VectorFile: Decodable {
        var generator: String
        var vectors: [Vector]
    }

    static func vectors() throws -> [Vector] {
        let data = try Data(contentsOf: TestPaths.fixture("signatures/ed25519-vectors.json"))
        return try JSONDecoder().decode(VectorFile.self, from: data).vectors
    }

    @Test("PyNaCl-made Discord signatures verify exactly when they should")
    func pynaclVectorsVerifyAsExpected() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count >= 10)
        #expect(vectors.contains { $0.valid } && vectors.contains { !$0.valid })
        for v in vectors {
            let key = try #require(Ed25519PublicKey(hex: v.public_key))
            let body = [UInt8](try #require(Data(base64Encoded: v.body_base64)))
            let ok = key.verifyDiscord(signatureHex: v.signature, timestamp: v.timestamp, body: body)
            #expect(ok == v.valid, "vector \(v.name)")
        }
    }

    @Test("a libsodium signature over timestamp + body verifies, and any change breaks it")
    func libsodiumRoundTripAndTamper() throws {
        let key = Ed25519SigningKey.random()
        let body = Array(#"{"type":1}"#.utf8)
        let sig = key.signDiscord(timestamp: "1763800000", body: body)
        #expect(key.publicKey.verifyDiscord(signatureHex: sig, timestamp: "1763800000", body: body))
        #expect(!key.publicKey.verifyDiscord(signatureHex: sig, timestamp: "1763800001", body: body))
        #expect(!key.publicKey.verifyDiscord(signatureHex: sig, timestamp: "1763800000", body: body + [0x20]))
        #expect(!Ed25519SigningKey.random().publicKey.verifyDiscord(signatureHex: sig, timestamp: "1763800000", body: body))
        #expect(!key.publicKey.verifyDiscord(signatureHex: String(sig.dropLast(2)), timestamp: "1763800000", body: body))
        #expect(!key.publicKey.verifyDiscord(signatureHex: "", timestamp: "1763800000", body: body))
    }

    @Test("public keys must be exactly 32 bytes of hex")
    func publicKeyParsing() {
        #expect(Ed25519PublicKey(hex: String(repeating: "ab", count: 32)) != nil)
        #expect(Ed25519PublicKey(hex: String(repeating: "AB", count: 32)) != nil)
        #expect(Ed25519PublicKey(hex: String(repeating: "ab", count: 31)) == nil)
        #expect(Ed25519PublicKey(hex: String(repeating: "zz", count: 32)) == nil)
        #expect(Ed25519PublicKey(hex: "") == nil)
    }

    @Test("SHA-256 matches the FIPS 180-2 vectors")
    func sha256Vectors() {
        #expect(Hex.encode(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(Digest.sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("HMAC-SHA256 matches RFC 4231 for short, 32-byte and long keys")
    func hmacVectors() {
        // RFC 4231 test case 1 (20-byte key).
        #expect(
            Hex.encode(Digest.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: "Hi There"))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        // RFC 4231 test case 2 (4-byte key "Jefe").
        #expect(
            Hex.encode(Digest.hmacSHA256(key: Array("Jefe".utf8), message: "what do ya want for nothing?"))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // RFC 4231 test case 6 (131-byte key, longer than the block size).
        #expect(
            Hex.encode(
                Digest.hmacSHA256(
                    key: [UInt8](repeating: 0xaa, count: 131),
                    message: "Test Using Larger Than Block-Size Key - Hash Key First"))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test("constant-time comparison compares contents of any length")
    func constantTimeEquality() {
        #expect(Digest.constantTimeEquals(Array("secret-token-123".utf8), Array("secret-token-123".utf8)))
        #expect(!Digest.constantTimeEquals(Array("secret-token-123".utf8), Array("secret-token-124".utf8)))
        #expect(!Digest.constantTimeEquals(Array("short".utf8), Array("secret-token-123".utf8)))
        #expect(!Digest.constantTimeEquals([], Array("x".utf8)))
    }

    @Test("hex decoding rejects odd lengths and non-hex characters")
    func hexDecoding() {
        #expect(Hex.decode("00ff10") == [0, 255, 16])
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.encode([0xde, 0xad]) == "dead")
    }
}
