// Reference endpoint in the style of Discord's own examples: Node's built-in http and crypto (Ed25519).
// Answers signed PINGs only. For benchmarks.
const http = require("http");
const crypto = require("crypto");

const raw = Buffer.from(process.env.DISCORD_PUBLIC_KEY, "hex");
// SPKI DER prefix for an Ed25519 public key, then the 32 raw bytes.
const key = crypto.createPublicKey({
  key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]),
  format: "der",
  type: "spki",
});
const [host, port] = process.argv[2].split(":");

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const sig = req.headers["x-signature-ed25519"] || "";
      const ts = req.headers["x-signature-timestamp"] || "";
      let ok = false;
      try {
        ok = crypto.verify(null, Buffer.concat([Buffer.from(ts), body]), key, Buffer.from(sig, "hex"));
      } catch (e) {
        ok = false;
      }
      if (!ok) {
        res.writeHead(401).end();
        return;
      }
      const out = JSON.parse(body).type === 1 ? '{"type":1}' : "{}";
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(out) }).end(out);
    });
  })
  .listen(Number(port), host);
