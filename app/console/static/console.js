// Tradezone audit console: checks ledger proofs and checkpoint signatures in
// the browser, with WebCrypto only. It trusts no verdict from the server: it
// fetches the public ledger API's signed checkpoint and audit path, and
// recomputes everything from hashes and an Ed25519 signature.
//
//   leaf hash  = SHA-256(0x00 || logged bytes)          RFC 9162 2.1.1
//   node hash  = SHA-256(0x01 || left || right)
//   inclusion  = RFC 9162 2.1.3.2
//   checkpoint = C2SP signed-note carrying a C2SP tlog-checkpoint (Ed25519)

const LEDGER_API = "/api/v1/ledger";
const PINNED_KEY = "tradezone.console.pinnedVerifierKey"; // a public key, never a token
const HASH_SIZE = 32;
const SIGNATURE_PREFIX = "\u2014 "; // EM DASH and a space

class VerificationFailure extends Error {}

function fail(message) {
  throw new VerificationFailure(message);
}

// --- bytes -----------------------------------------------------------------

const utf8 = new TextEncoder();

function b64decode(text, what) {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    fail(`${what} is not standard base64`);
  }
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

function b64encode(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

function hashFrom(text, what) {
  const hash = b64decode(text, what);
  if (hash.length !== HASH_SIZE) fail(`${what} is not a ${HASH_SIZE}-byte hash`);
  return hash;
}

// --- RFC 9162 hashing and inclusion ----------------------------------------

const leafHash = (data) => sha256(Uint8Array.of(0x00), data);
const nodeHash = (left, right) => sha256(Uint8Array.of(0x01), left, right);
const half = (n) => Math.floor(n / 2); // not >>: indexes may pass 2^31

/** RFC 9162 2.1.3.2: the root that `proof` leads to from leaf `index` of a tree of `treeSize`. */
async function rootFromInclusionProof(leaf, index, treeSize, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) {
    fail(`index ${index} is not in a tree of size ${treeSize}`);
  }
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) fail("the audit path is longer than the path to the root");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail("the audit path is shorter than the path to the root");
  return r;
}

// --- C2SP signed notes and checkpoints -------------------------------------

/** Parse `name+hex8+base64(0x01 || key)` and check its key hash. */
async function parseVerifierKey(vkey) {
  const parts = vkey.trim().split("+");
  if (parts.length < 3) fail("the verifier key is not name+hash+key");
  const [name, hashHex] = parts;
  const raw = b64decode(parts.slice(2).join("+"), "the verifier key");
  if (!name || /\s/.test(name) || !/^[0-9a-f]{8}$/.test(hashHex)) fail("the verifier key is malformed");
  if (raw.length !== 33 || raw[0] !== 0x01) fail("the verifier key is not an Ed25519 key");
  const publicKey = raw.slice(1);
  const keyHash = await noteKeyHash(name, publicKey);
  if (hex(keyHash) !== hashHex) fail("the verifier key's hash does not match its name and key");
  return { name, keyHash, publicKey, text: vkey.trim() };
}

async function noteKeyHash(name, publicKey) {
  return (await sha256(utf8.encode(name + "\n"), Uint8Array.of(0x01), publicKey)).slice(0, 4);
}

/** Split a signed note into its body and signature lines (c2sp.org/signed-note). */
function splitNote(text) {
  const cut = text.lastIndexOf("\n\n");
  if (cut < 0 || !text.endsWith("\n")) fail("the checkpoint note has no signature block");
  const body = text.slice(0, cut + 1);
  const signatures = text.slice(cut + 2, -1).split("\n").map((line) => {
    if (!line.startsWith(SIGNATURE_PREFIX)) fail("a signature line does not start with an em dash");
    const fields = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (fields.length !== 2 || !fields[0]) fail("a signature line is not '— name signature'");
    const blob = b64decode(fields[1], "a note signature");
    if (blob.length < 5) fail("a note signature is too short");
    return { name: fields[0], keyHash: blob.slice(0, 4), signature: blob.slice(4) };
  });
  return { body, signatures };
}

/** Verify `noteText` with `key`, then parse the checkpoint body it carries. */
async function openCheckpoint(noteText, key) {
  const { body, signatures } = splitNote(noteText);
  const mine = signatures.filter((s) => s.name === key.name && sameBytes(s.keyHash, key.keyHash));
  if (mine.length === 0) fail(`the checkpoint has no signature by ${key.name}`);
  const publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  for (const s of mine) {
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, s.signature, utf8.encode(body));
    if (!ok) fail(`the checkpoint's Ed25519 signature by ${key.name} does not verify`);
  }
  return parseCheckpointBody(body, key.name);
}

function parseCheckpointBody(body, origin) {
  const lines = body.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "" || lines.slice(0, -1).includes("")) {
    fail("the checkpoint body is not newline-terminated lines");
  }
  const [name, sizeText, rootText] = lines;
  if (name !== origin) fail(`the checkpoint is for origin ${name}, not ${origin}`);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) fail("the checkpoint size is not a canonical decimal");
  const root = hashFrom(rootText, "the checkpoint root");
  if (b64encode(root) !== rootText) fail("the checkpoint root is not canonical base64");
  return { origin: name, size: Number(sizeText), root };
}

// --- talking to the public ledger API ----------------------------------------

async function getJSON(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (error) {
    fail(`could not fetch ${path}: ${error.message}`);
  }
  if (!response.ok) fail(`${path} answered ${response.status}`);
  try {
    return await response.json();
  } catch {
    fail(`${path} did not answer JSON`);
  }
}

/** The key to check against: the one pinned in this browser, else the one served. */
async function trustedKey() {
  const served = (await getJSON(`${LEDGER_API}/key`)).verifier_key;
  const pinned = localStorage.getItem(PINNED_KEY);
  if (pinned) {
    const source = pinned === served ? "pinned in this browser (the server serves the same key)"
      : "pinned in this browser; THE SERVER NOW SERVES A DIFFERENT KEY";
    return { key: await parseVerifierKey(pinned), source, served };
  }
  return { key: await parseVerifierKey(served), source: "as served by this server (not pinned)", served };
}

async function latestCheckpoint(key) {
  const answer = await getJSON(`${LEDGER_API}/checkpoint`);
  if (typeof answer.checkpoint !== "string") fail("the checkpoint answer has no signed note");
  return { checkpoint: await openCheckpoint(answer.checkpoint, key), note: answer.checkpoint };
}

async function inclusionProof(index, treeSize) {
  const answer = await getJSON(`${LEDGER_API}/proofs/inclusion?index=${index}&tree_size=${treeSize}`);
  if (answer.index !== index || answer.tree_size !== treeSize) {
    fail(`asked for leaf ${index} in tree ${treeSize}, got leaf ${answer.index} in tree ${answer.tree_size}`);
  }
  if (!Array.isArray(answer.proof)) fail("the proof answer has no audit path");
  return answer.proof.map((item, i) => hashFrom(item, `proof[${i}]`));
}

// --- the page ------------------------------------------------------------------

function show(id, text) {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

function setStatus(id, state, text) {
  const element = document.getElementById(id);
  element.dataset.state = state;
  element.textContent = text;
}

function describe(error) {
  return error instanceof VerificationFailure ? error.message : `${error.name}: ${error.message}`;
}

function requireWebCrypto() {
  if (!window.isSecureContext || !crypto.subtle) {
    fail("this page is not a secure context (use HTTPS or 127.0.0.1), so WebCrypto is unavailable");
  }
}

/** Entry page: recompute the entry's leaf hash and its root, compare with the signed root. */
async function verifyEntry(section) {
  try {
    requireWebCrypto();
    const index = Number(section.dataset.index);
    const leafData = b64decode(section.dataset.leafData, "the logged bytes");
    showVerifiedEntry(leafData);
    const { key } = await trustedKey();
    const { checkpoint } = await latestCheckpoint(key);
    show("proof-signature", `verified (Ed25519, ${key.name})`);
    show("proof-tree-size", String(checkpoint.size));
    show("proof-signed-root", b64encode(checkpoint.root));
    if (index >= checkpoint.size) fail(`entry ${index} is beyond the signed tree of size ${checkpoint.size}`);
    const leaf = await leafHash(leafData);
    show("proof-leaf-hash", b64encode(leaf));
    const proof = await inclusionProof(index, checkpoint.size);
    show("proof-path-length", `${proof.length} hashes`);
    const root = await rootFromInclusionProof(leaf, index, checkpoint.size, proof);
    show("proof-computed-root", b64encode(root));
    if (!sameBytes(root, checkpoint.root)) {
      fail(`the computed root ${b64encode(root)} does not match the signed root ${b64encode(checkpoint.root)}`);
    }
    setStatus("proof-status", "verified", `verified: entry ${index} is in the signed tree of size ${checkpoint.size}`);
  } catch (error) {
    setStatus("proof-status", "failed", `FAILED: ${describe(error)}`);
  }
}

/** Show the entry as decoded from the very bytes that are hashed. */
function showVerifiedEntry(leafData) {
  const entry = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leafData));
  show("entry-json", JSON.stringify(entry, null, 2));
  show("entry-source", "(decoded in your browser from the logged bytes it hashes)");
}

/** Overview page: check the shown checkpoint's signature with the trusted key. */
async function verifyOverview(section) {
  // A re-check (after pinning or unpinning a key) must not leave the last
  // verdict showing while it runs.
  setStatus("signature-status", "pending", "checking…");
  try {
    requireWebCrypto();
    const { key, source } = await trustedKey();
    show("key-source", `${key.text} — ${source}`);
    const checkpoint = await openCheckpoint(section.dataset.note, key);
    setStatus("signature-status", "verified",
      `signature verified: size ${checkpoint.size}, root ${b64encode(checkpoint.root)}`);
  } catch (error) {
    setStatus("signature-status", "failed", `FAILED: ${describe(error)}`);
  }
}

function wireKeyPinning(section) {
  const pin = document.getElementById("pin-key");
  const unpin = document.getElementById("unpin-key");
  const checkpoint = document.getElementById("checkpoint");
  const refresh = () => {
    unpin.hidden = !localStorage.getItem(PINNED_KEY);
    if (checkpoint) verifyOverview(checkpoint);
    else trustedKey().then(({ key, source }) => show("key-source", `${key.text} — ${source}`),
      (error) => show("key-source", `FAILED: ${describe(error)}`));
  };
  pin.addEventListener("click", () => {
    localStorage.setItem(PINNED_KEY, section.dataset.verifierKey);
    refresh();
  });
  unpin.addEventListener("click", () => {
    localStorage.removeItem(PINNED_KEY);
    refresh();
  });
  refresh();
}

const proofSection = document.getElementById("proof");
if (proofSection) verifyEntry(proofSection);
const keySection = document.getElementById("log-key");
if (keySection) wireKeyPinning(keySection);
