// Checks, in the browser, that an audit entry is in the signed log:
// leaf hash SHA-256(0x00 || entry bytes), the RFC 9162 inclusion proof up
// to the checkpoint's root, and the checkpoint's Ed25519 signed-note
// signature against a key from /v1/audit/verifiers. Nothing here trusts
// the server's word for a hash: it recomputes each one.
"use strict";
const OVProof = (() => {
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const cat = (...parts) => { const n = parts.reduce((a, p) => a + p.length, 0); const out = new Uint8Array(n); let o = 0; for (const p of parts) { out.set(p, o); o += p.length; } return out; };
  const sha = async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const leafHash = (entry) => sha(cat(new Uint8Array([0]), entry));
  const nodeHash = (l, r) => sha(cat(new Uint8Array([1]), l, r));

  // rootFromInclusion follows RFC 9162 section 2.1.3.2.
  async function rootFromInclusion(index, size, leaf, path) {
    if (index >= size) throw new Error("index not below size");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }

  // parseCheckpoint splits a C2SP signed note into its body and signatures.
  function parseCheckpoint(text) {
    const cut = text.indexOf("\n\n");
    if (cut < 0) throw new Error("checkpoint: no signature block");
    const body = text.slice(0, cut + 1);
    const lines = body.split("\n");
    const size = Number(lines[1]);
    if (!Number.isSafeInteger(size) || String(size) !== lines[1]) throw new Error("checkpoint: bad size");
    const sigs = [];
    for (const line of text.slice(cut + 2).split("\n")) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (m) sigs.push({ name: m[1], sig: b64(m[2]) });
    }
    return { origin: lines[0], size, root: b64(lines[2]), body, sigs };
  }

  // verifyNote checks that a signature of a key listed in verifiers
  // (lines name+hash+base64(0x01 || Ed25519 key)) verifies the body.
  async function verifyNote(cp, verifiers) {
    for (const line of verifiers.split("\n")) {
      // name+hash+key: the key's base64 may hold "+" too.
      const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(line.trim());
      if (!m) continue;
      const [, name, hash, key] = m;
      const raw = b64(key);
      if (raw.length !== 33 || raw[0] !== 1) continue;
      const hashBytes = Uint8Array.from(hash.match(/../g).map((h) => parseInt(h, 16)));
      for (const s of cp.sigs) {
        if (s.name !== name || s.sig.length !== 68 || !eq(s.sig.slice(0, 4), hashBytes)) continue;
        const k = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
        if (await crypto.subtle.verify({ name: "Ed25519" }, k, s.sig.slice(4), new TextEncoder().encode(cp.body))) return name;
      }
    }
    throw new Error(`checkpoint signature (${cp.sigs.map((s) => s.name).join(", ") || "none"}) does not verify with any audit key (${verifiers.split("\n").filter(Boolean).length} listed)`);
  }

  // Checker fetches the checkpoint and verifier keys once, then checks
  // entries against them. fetchText(path) returns a response body.
  function Checker(fetchText) {
    let cp = null;
    async function checkpoint() {
      if (!cp) {
        cp = (async () => {
          const [text, verifiers] = await Promise.all([fetchText("/v1/audit/checkpoint"), fetchText("/v1/audit/verifiers")]);
          const c = parseCheckpoint(text);
          c.signer = await verifyNote(c, verifiers);
          return c;
        })();
      }
      return cp;
    }
    // check resolves to {ok, size, signer} or {ok:false, error}.
    async function check(index, entryBytes) {
      try {
        const c = await checkpoint();
        if (index >= c.size) return { ok: false, error: "newer than the checkpoint", pending: true };
        const prf = JSON.parse(await fetchText(`/v1/audit/proof/inclusion?index=${index}&size=${c.size}`));
        const root = await rootFromInclusion(index, c.size, await leafHash(entryBytes), prf.proof.map(b64));
        if (!eq(root, c.root)) return { ok: false, error: "root mismatch" };
        return { ok: true, size: c.size, signer: c.signer };
      } catch (e) {
        return { ok: false, error: String(e.message || e) };
      }
    }
    return { check };
  }
  return { Checker, b64, parseCheckpoint };
})();
