// The technician's board: receivers (availability from the stream the moment it changes,
// counters from the health report), every handset heard, participants still without a
// handset, and pairing by printed ID or by the next key press.

import { t } from "/static/i18n.js";
import { ago, api, clock, el, follow, setText, showLink } from "/static/live.js";

const POLL_MS = 2000;
const ROSTER_EVERY = 3; // the roster changes rarely: every third poll, and after a pairing
const LOW_BATTERY = 20; // percent
const NEXT_PRESS_S = 30;
// A handset silent this long may be switched off, out of range or flat; ?quiet=SECONDS
// changes it (a break between sessions is longer than a gap between votes).
const QUIET_S = Number(new URLSearchParams(location.search).get("quiet")) || 300;

const $ = (id) => document.getElementById(id);
const availability = new Map(); // receiver -> ars/rx/{receiver}/availability
const bridges = new Map(); // bridge -> ars/bridge/{bridge}/state
let health = null;
let handsets = [];
let participants = [];
let polls = 0;
let pairing = false;

// Receivers and bridges.

function receiverRows() {
  const fromHealth = (health && health.receivers) || {};
  const names = new Set([...Object.keys(fromHealth), ...availability.keys()]);
  return [...names].sort().map((name) => {
    const h = fromHealth[name];
    const a = availability.get(name);
    // The newer of the two says whether it is online; only the health report has counters.
    const useStream = a && (!h || (a.since || 0) >= (h.since || 0));
    return {
      name,
      family: (h && h.family) || (a && a.family) || "",
      online: useStream ? a.state === "online" : Boolean(h.online),
      since: useStream ? a.since : h.since,
      error: useStream ? a.error : h.error,
      stats: (h && h.stats) || {},
      opened: h ? h.opened : null,
    };
  });
}

function renderReceivers() {
  const now = clock.now();
  const rows = receiverRows().map((r) =>
    el(
      "tr",
      { class: r.online ? "" : "offline", dataset: { receiver: r.name, state: r.online ? "online" : "offline" } },
      el("td", {}, el("strong", {}, r.name)),
      el("td", {}, r.family),
      el("td", { class: "state" }, el("span", { class: `badge ${r.online ? "ok" : "bad"}` }, r.online ? t("tech.online") : t("tech.offline"))),
      el("td", {}, r.since ? ago(now - r.since) : ""),
      el("td", { class: "error-text" }, r.error || ""),
      ...["frames", "presses", "rejected", "noise"].map((k) => el("td", { class: `num ${k}` }, r.stats[k] ?? "")),
      el("td", { class: "num" }, r.opened ?? ""),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 10, class: "meta" }, t("tech.no_receiver"))));
  $("receivers").tBodies[0].replaceChildren(...rows);
  const parts = [...bridges.entries()].map(([name, b]) => `${t("tech.bridge", { name })}: ${b.state}${b.version ? " v" + b.version : ""}`);
  if (health) {
    const m = health.mqtt || {};
    parts.push(`${t("tech.broker", { name: m.broker || "?" })}: ${m.connected ? t("tech.connected") : t("tech.not_connected")}`);
    if (health.journal) parts.push(t("tech.backlog", { n: health.journal.backlog }));
    setText($("service"), `${health.bridge} · ${health.status} · v${health.version}`);
  }
  setText($("bridges"), parts.join(" · "));
}

// Handsets.

function flagsOf(h, now) {
  const flags = [];
  if (h.bat != null && h.bat < LOW_BATTERY) flags.push(["bad", t("tech.flag.low"), "low"]);
  if (now - h.last > QUIET_S) flags.push(["warn", t("tech.flag.quiet", { ago: ago(now - h.last) }), "quiet"]);
  if (!h.participant) flags.push(["", t("tech.flag.unpaired"), "unpaired"]);
  return flags;
}

function renderHandsets() {
  const now = clock.now();
  let low = 0;
  let quiet = 0;
  let unpaired = 0;
  const rows = handsets.map((h) => {
    const flags = flagsOf(h, now);
    low += flags.some(([, , code]) => code === "low");
    quiet += flags.some(([, , code]) => code === "quiet");
    unpaired += !h.participant;
    const who = h.participant
      ? `${h.participant}${h.name ? " " + h.name : ""}`
      : el("button", { type: "button", class: "link-button", onclick: () => useHandset(h.handset) }, t("tech.pair_this"));
    return el(
      "tr",
      { class: flags.some(([k]) => k) ? "flagged" : "", dataset: { handset: h.handset } },
      el("td", {}, el("code", {}, h.handset)),
      el("td", {}, h.rx || ""),
      el("td", { class: "last" }, ago(now - h.last)),
      el("td", { class: `num battery${h.bat != null && h.bat < LOW_BATTERY ? " error" : ""}` }, h.bat != null ? `${Math.round(h.bat)} %` : "–"),
      el("td", { class: "num" }, h.rssi != null ? `${h.rssi} dBm` : "–"),
      el("td", { class: "num" }, h.presses),
      el("td", { class: "participant" }, who),
      el("td", { class: "flags" }, flags.map(([kind, text]) => el("span", { class: `badge ${kind}` }, text))),
    );
  });
  $("handsets").tBodies[0].replaceChildren(...rows);
  setText(
    $("handsets-summary"),
    t("tech.summary", { heard: handsets.length, low, quiet, quiet_s: QUIET_S, unpaired }),
  );
}

function useHandset(id) {
  $("pair-handset").value = id;
  $("pair-handset").focus();
}

// Participants and pairing.

function renderParticipants() {
  const select = $("pair-participant");
  const signature = JSON.stringify(participants.map((p) => [p.id, p.name, p.handset]));
  if (select.dataset.signature === signature) return;
  select.dataset.signature = signature;
  const chosen = select.value;
  const without = participants.filter((p) => !p.handset);
  const withHandset = participants.filter((p) => p.handset);
  const option = (p) =>
    el("option", { value: p.id }, `${p.id} ${p.name}${p.table ? ` (${t("tech.table", { table: p.table })}${p.seat ? ", " + t("tech.seat", { seat: p.seat }) : ""})` : ""}${p.handset ? " · " + t("tech.has", { handset: p.handset }) : ""}`);
  select.replaceChildren(
    el("option", { value: "" }, t("tech.choose")),
    el("optgroup", { label: t("tech.group.without", { n: without.length }) }, without.map(option)),
    el("optgroup", { label: t("tech.group.with", { n: withHandset.length }) }, withHandset.map(option)),
  );
  select.value = participants.some((p) => p.id === chosen) ? chosen : "";
  setText($("unpaired-count"), t("tech.of", { n: without.length, total: participants.length }));
  $("unpaired").replaceChildren(
    ...without.map((p) =>
      el(
        "li",
        { dataset: { participant: p.id } },
        el(
          "button",
          { type: "button", onclick: () => (select.value = p.id) },
          `${p.id} ${p.name}`,
          p.table ? el("span", { class: "meta" }, ` · ${t("tech.table", { table: p.table })}${p.seat ? "/" + p.seat : ""}`) : null,
        ),
      ),
    ),
  );
}

function pairingMessage(text, error) {
  $("pair-error").hidden = !error;
  setText($("pair-error"), error ? text : "");
  setText($("pair-result"), error ? "" : text);
}

async function pair(path, body, waiting) {
  if (pairing) return;
  if (!body.participant) {
    pairingMessage(t("tech.choose_first"), true);
    return;
  }
  pairing = true;
  for (const b of document.querySelectorAll("#pair-form button")) b.disabled = true;
  pairingMessage(waiting, false);
  try {
    const p = await api("POST", path, body);
    pairingMessage(t("tech.paired", { id: p.id, name: p.name, handset: p.handset }), false);
    $("pair-handset").value = "";
  } catch (err) {
    pairingMessage(err.message, true);
  } finally {
    pairing = false;
    for (const b of document.querySelectorAll("#pair-form button")) b.disabled = false;
    polls = 0; // fetch the roster with the next poll
    poll();
  }
}

$("pair-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const handset = $("pair-handset").value.trim();
  if (!handset) {
    pairingMessage(t("tech.type_id"), true);
    return;
  }
  pair("/api/v1/pairing", { participant: $("pair-participant").value, handset }, t("tech.pairing_now"));
});
$("btn-pair-next").addEventListener("click", () =>
  pair(
    "/api/v1/pairing/next",
    { participant: $("pair-participant").value, timeout_s: NEXT_PRESS_S },
    t("tech.waiting", { n: NEXT_PRESS_S }),
  ),
);

// Data.

let timer = 0;
let polling = false;
let again = false;
/** One refresh, then the next in POLL_MS; a call while one runs asks for another right after
 * (never two loops at once). */
async function poll() {
  if (polling) {
    again = true;
    return;
  }
  polling = true;
  clearTimeout(timer);
  try {
    await refresh();
  } finally {
    // Whatever failed above, the board keeps refreshing.
    polling = false;
    if (again) {
      again = false;
      poll();
    } else {
      timer = setTimeout(poll, POLL_MS);
    }
  }
}

async function refresh() {
  const roster = polls++ % ROSTER_EVERY === 0;
  try {
    const [h, heard, people] = await Promise.all([
      api("GET", "/api/v1/health"),
      api("GET", "/api/v1/handsets"),
      // A process without the api role has no roster: the rest of the board still works.
      roster ? api("GET", "/api/v1/participants").catch((err) => err) : null,
    ]);
    health = h;
    handsets = heard;
    if (people instanceof Error) setText($("unpaired-count"), `(cannot load the roster: ${people.message})`);
    else if (people) participants = people;
    $("poll-error").hidden = true;
  } catch (err) {
    $("poll-error").hidden = false;
    setText($("poll-error"), t("tech.cannot_refresh", { error: err.message }));
  }
  renderReceivers();
  renderHandsets();
  renderParticipants();
}

follow(
  ["rx/", "bridge/"],
  (topic, payload) => {
    const [root, name, kind] = topic.split("/");
    if (root === "rx" && kind === "availability") {
      if (payload) availability.set(name, payload);
      else availability.delete(name);
      renderReceivers();
    } else if (root === "bridge" && kind === "state") {
      if (payload) bridges.set(name, payload);
      else bridges.delete(name);
      renderReceivers();
    }
  },
  (state) => showLink($("link"), state),
);
poll();
