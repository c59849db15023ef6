// The technician's board: receivers (availability from the stream the moment it changes,
// counters, errors and flags from the API), every handset heard or paired with flagged ones
// first and a filter, participants still without a handset, pairing by printed ID or by the
// next key press, unpairing and replacing a handset, and the roll call.

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
let receivers = {}; // GET /api/v1/receivers: counters, last error, flags
let handsets = []; // the board's rows, in the service's order
const board = new Map(); // handset -> row, kept between polls: only changes come after the first
let cursor = null; // of the last answer of /api/v1/handsets/changes
let rollcall = null; // GET /api/v1/rollcall while one runs
let participants = [];
let polls = 0;
let pairing = false;

// Receivers and bridges.

function receiverRows() {
  const fromHealth = (health && health.receivers) || {};
  const names = new Set([...Object.keys(fromHealth), ...availability.keys(), ...Object.keys(receivers)]);
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
      counters: (receivers[name] && receivers[name].counters) || {},
      lastError: (receivers[name] && receivers[name].last_error) || "",
      flags: (receivers[name] && receivers[name].flags) || [],
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
      el("td", { class: "error-text" }, r.error || r.lastError || ""),
      ...["frames", "presses", "damaged", "chatter"].map((k) => el("td", { class: `num ${k}` }, r.counters[k] ?? "")),
      el("td", { class: "num" }, r.opened ?? ""),
      el("td", { class: "flags" }, r.flags.map((f) => el("span", { class: "badge bad", title: f.reason }, `${RECEIVER_FLAGS[f.kind] || f.kind}: ${f.reason}`))),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 11, class: "meta" }, t("tech.no_receiver"))));
  const select = $("filter-receiver");
  const names = receiverRows().map((r) => r.name);
  if (select.dataset.names !== names.join(",")) {
    select.dataset.names = names.join(",");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, t("tech.filter.any_receiver")), ...names.map((n) => el("option", { value: n }, n)));
    select.value = names.includes(chosen) ? chosen : "";
  }
  $("receivers").tBodies[0].replaceChildren(...rows);
  const parts = [...bridges.entries()].map(
    ([name, b]) => `${t("tech.bridge", { name })}: ${STATES[b.state] || b.state}${b.version ? " v" + b.version : ""}`,
  );
  if (health) {
    const m = health.mqtt || {};
    parts.push(`${t("tech.broker", { name: m.broker || "?" })}: ${m.connected ? t("tech.connected") : t("tech.not_connected")}`);
    if (health.journal) parts.push(t("tech.backlog", { n: health.journal.backlog }));
    setText($("service"), `${health.bridge} · ${STATUSES[health.status] || health.status} · v${health.version}`);
  }
  setText($("bridges"), parts.join(" · "));
}

// Handsets.

// What the service's flags say, as the technician reads them (docs/operations.md).
const HANDSET_FLAGS = {
  stuck: t("tech.flag.stuck"),
  jamming: t("tech.flag.jamming"),
  spoofing: t("tech.flag.spoofing"),
  battery: t("tech.flag.battery"),
  silent: t("tech.flag.silent"),
};
const RECEIVER_FLAGS = {
  errors: t("tech.rxflag.errors"),
  bad_frames: t("tech.rxflag.bad_frames"),
  backlog: t("tech.rxflag.backlog"),
};
// A bridge's state, the service's status and a released press's decision, in words.
const STATES = { online: t("tech.online"), offline: t("tech.offline") };
const STATUSES = { ok: t("tech.status.ok"), degraded: t("tech.status.degraded"), critical: t("tech.status.critical") };
const DECISIONS = {
  counted: t("tech.decision.counted"),
  changed: t("tech.decision.changed"),
  duplicate: t("tech.decision.duplicate"),
  stale: t("tech.decision.stale"),
  late: t("tech.decision.late"),
  closed: t("tech.decision.closed"),
  unknown_handset: t("tech.decision.unknown_handset"),
  invalid: t("tech.decision.invalid"),
  bad_frame: t("tech.decision.bad_frame"),
  suspect: t("tech.decision.suspect"),
};

/** "not heard for 12s", "... 4m", "... 2h" (the units of `ago`). */
function silentFor(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return t("tech.flag.quiet_s", { n: s });
  if (s < 7200) return t("tech.flag.quiet_m", { n: Math.floor(s / 60) });
  return t("tech.flag.quiet_h", { n: Math.floor(s / 3600) });
}

function flagsOf(h, now) {
  const flags = h.flags.map((f) => [
    f.kind === "silent" ? "warn" : "bad",
    f.kind === "silent" && h.last != null ? t("tech.flag.missing") : HANDSET_FLAGS[f.kind] || f.kind,
    f.reason,
    f.kind,
  ]);
  if (h.bat != null && h.bat < LOW_BATTERY && !h.flags.some((f) => f.kind === "battery")) {
    flags.push(["bad", t("tech.flag.battery"), "", "battery"]);
  }
  if (h.last != null && now - h.last > QUIET_S) flags.push(["warn", silentFor(now - h.last), "", "quiet"]);
  if (!h.participant) flags.push(["", t("tech.flag.unpaired"), "", "unpaired"]);
  return flags;
}

function renderHandsets() {
  const now = clock.now();
  let flagged = 0;
  let quiet = 0;
  let unpaired = 0;
  // The service sends flagged handsets first; handsets only this page flags follow them.
  const listed = handsets.map((h) => ({ h, flags: flagsOf(h, now) }));
  listed.sort((a, b) => (b.h.flags.length > 0) - (a.h.flags.length > 0) || (b.flags.some(([k]) => k) - a.flags.some(([k]) => k)));
  const rows = listed.map(({ h, flags }) => {
    flagged += h.flags.length > 0;
    quiet += flags.some(([, , , code]) => code === "quiet");
    unpaired += !h.participant;
    const who = h.participant
      ? `${h.participant}${h.name ? " " + h.name : ""}`
      : el("button", { type: "button", class: "link-button", onclick: () => useHandset(h.handset) }, t("tech.pair_this"));
    const actions = [];
    if (h.participant) {
      actions.push(el("button", { type: "button", class: "link-button unpair", onclick: () => unpair(h) }, t("tech.action.unpair")));
      actions.push(el("button", { type: "button", class: "link-button replace", onclick: () => replace(h) }, t("tech.action.replace")));
    }
    if (h.flags.some((f) => f.kind === "spoofing")) {
      actions.push(el("button", { type: "button", class: "link-button release", onclick: () => release(h) }, t("tech.action.release")));
    }
    if (h.flags.some((f) => f.kind !== "silent")) {
      actions.push(el("button", { type: "button", class: "link-button clear", onclick: () => clearFlags(h) }, t("tech.action.clear")));
    }
    return el(
      "tr",
      { class: flags.some(([k]) => k) ? "flagged" : "", dataset: { handset: h.handset, flags: h.flags.map((f) => f.kind).join(" ") } },
      el("td", {}, el("code", {}, h.handset)),
      el("td", {}, h.rx || ""),
      el("td", { class: "last" }, h.last != null ? ago(now - h.last) : t("tech.never")),
      el("td", { class: `num battery${h.bat != null && h.bat < LOW_BATTERY ? " error" : ""}` }, h.bat != null ? `${Math.round(h.bat)} %` : "–"),
      el("td", { class: "num" }, h.rssi != null ? `${h.rssi} dBm` : "–"),
      el("td", { class: "num" }, h.presses),
      el("td", { class: "participant" }, who),
      el("td", { class: "table" }, h.table || ""),
      el("td", { class: "flags" }, flags.map(([kind, text, reason]) => el("span", { class: `badge ${kind}`, title: reason }, text))),
      el("td", { class: "actions" }, actions),
    );
  });
  $("handsets").tBodies[0].replaceChildren(...rows);
  setText(
    $("handsets-summary"),
    t("tech.summary", { shown: handsets.length, flagged, quiet, quiet_s: QUIET_S, unpaired }),
  );
}

// The service's order: flagged first, then by table (numbers in order), then by handset.
function tableKey(table) {
  if (table == null || table === "") return [2 ** 31, ""];
  return /^\d+$/.test(table) ? [Number(table), table] : [2 ** 30, table];
}

function boardOrder(a, b) {
  const [ta, sa] = tableKey(a.table);
  const [tb, sb] = tableKey(b.table);
  return (a.flags.length === 0) - (b.flags.length === 0) || ta - tb || (sa < sb ? -1 : sa > sb ? 1 : 0) || (a.handset < b.handset ? -1 : a.handset > b.handset ? 1 : 0);
}

/** An answer of /api/v1/handsets/changes: the whole board, or the rows changed since the
 * last one and the handsets gone from it (other filters or a new roster: the whole board). */
function takeBoard(changes) {
  if (changes.whole) board.clear();
  for (const handset of changes.gone) board.delete(handset);
  for (const row of changes.rows) board.set(row.handset, row);
  cursor = changes.cursor;
  handsets = [...board.values()].sort(boardOrder);
}

// Unpairing and replacing a handset, clearing its flags.

async function unpair(h) {
  try {
    await api("DELETE", `/api/v1/pairing/${encodeURIComponent(h.participant)}`);
    pairingMessage(t("tech.unpaired", { participant: h.participant, handset: h.handset }), false);
  } catch (err) {
    pairingMessage(err.message, true);
  }
  polls = 0;
  poll();
}

async function replace(h) {
  // The broken handset goes; the participant's replacement pairs with its first key press.
  await unpair(h);
  if (!$("pair-error").hidden) return;
  $("pair-participant").value = h.participant;
  await pair(
    "/api/v1/pairing/next",
    { participant: h.participant, timeout_s: NEXT_PRESS_S },
    t("tech.waiting_replacement", { n: NEXT_PRESS_S, participant: h.participant }),
  );
}

async function release(h) {
  // The technician checked the handset and vouches for the press the service held.
  try {
    const r = await api("POST", `/api/v1/handsets/${encodeURIComponent(h.handset)}/release`);
    pairingMessage(
      t("tech.released", { key: r.key, handset: h.handset, decision: DECISIONS[r.decision] || r.decision }),
      false,
    );
  } catch (err) {
    pairingMessage(err.message, true);
  }
  poll();
}

async function clearFlags(h) {
  try {
    await api("DELETE", `/api/v1/handsets/${encodeURIComponent(h.handset)}/flags`);
  } catch (err) {
    pairingMessage(err.message, true);
  }
  poll();
}

// The roll call: "press any key", and who has not yet.

function renderRollcall() {
  const running = rollcall !== null;
  $("btn-rollcall-end").hidden = !running;
  $("btn-rollcall").textContent = running ? t("tech.rollcall.again") : t("tech.rollcall.start");
  if (!running) {
    setText($("rollcall-status"), "");
    $("rollcall-missing").replaceChildren();
    return;
  }
  const who = rollcall.table ? t("tech.table", { table: rollcall.table }) : t("tech.rollcall.the_room");
  setText(
    $("rollcall-status"),
    t("tech.rollcall.status", { who, heard: rollcall.heard, expected: rollcall.expected, missing: rollcall.missing.length }),
  );
  $("rollcall-missing").replaceChildren(
    ...rollcall.missing.map((m) =>
      el(
        "li",
        { dataset: { handset: m.handset, participant: m.participant } },
        `${m.participant}${m.name ? " " + m.name : ""} · ${t("tech.table", { table: `${m.table || "?"}${m.seat ? "/" + m.seat : ""}` })} · `,
        el("code", {}, m.handset),
      ),
    ),
  );
}

function renderTables() {
  const select = $("rollcall-table");
  const tables = [...new Set(participants.map((p) => p.table).filter(Boolean))];
  tables.sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  if (select.dataset.tables === tables.join(",")) return;
  select.dataset.tables = tables.join(",");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("tech.rollcall.room")),
    ...tables.map((table) => el("option", { value: table }, t("tech.table", { table }))),
  );
  select.value = tables.includes(chosen) ? chosen : "";
}

$("rollcall-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const table = $("rollcall-table").value;
  try {
    rollcall = await api("POST", "/api/v1/rollcall", table ? { table } : {});
    $("rollcall-error").hidden = true;
  } catch (err) {
    $("rollcall-error").hidden = false;
    setText($("rollcall-error"), err.message);
  }
  renderRollcall();
  poll();
});
$("btn-rollcall-end").addEventListener("click", async () => {
  await api("DELETE", "/api/v1/rollcall").catch(() => null);
  rollcall = null;
  renderRollcall();
});

// The filter: flag, table, receiver and text, applied by the API.

function boardQuery() {
  const params = new URLSearchParams();
  if (cursor) params.set("after", cursor);
  for (const [key, id] of [["flag", "filter-flag"], ["table", "filter-table"], ["receiver", "filter-receiver"], ["q", "filter-text"]]) {
    const value = $(id).value.trim();
    if (value) params.set(key, value);
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}

$("filter").addEventListener("submit", (event) => event.preventDefault());
for (const id of ["filter-flag", "filter-table", "filter-receiver", "filter-text"]) {
  $(id).addEventListener("input", () => poll());
}

function useHandset(id) {
  $("pair-handset").value = id;
  $("pair-handset").focus();
}

// Participants and pairing.

function renderParticipants() {
  const select = $("pair-participant");
  const signature = JSON.stringify(participants.map((p) => [p.id, p.name, p.handset, p.attributes]));
  if (select.dataset.signature === signature) return;
  select.dataset.signature = signature;
  const chosen = select.value;
  const without = participants.filter((p) => !p.handset);
  const withHandset = participants.filter((p) => p.handset);
  // The organiser's own columns (municipality, sector...) are shown as they were imported.
  const extra = (p) => Object.entries(p.attributes || {}).map(([k, v]) => ` · ${k}: ${v}`).join("");
  const option = (p) =>
    el(
      "option",
      { value: p.id },
      `${p.id} ${p.name}${p.table ? ` (${t("tech.table", { table: p.table })}${p.seat ? ", " + t("tech.seat", { seat: p.seat }) : ""})` : ""}${extra(p)}${p.handset ? " · " + t("tech.has", { handset: p.handset }) : ""}`,
    );
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
    const [h, heard, people, rx, call] = await Promise.all([
      api("GET", "/api/v1/health"),
      api("GET", `/api/v1/handsets/changes${boardQuery()}`),
      // A process without the api role has no roster: the rest of the board still works.
      roster ? api("GET", "/api/v1/participants").catch((err) => err) : null,
      api("GET", "/api/v1/receivers"),
      api("GET", "/api/v1/rollcall"),
    ]);
    health = h;
    takeBoard(heard);
    receivers = rx;
    rollcall = call.running ? call : null;
    if (people instanceof Error) setText($("unpaired-count"), t("tech.no_roster", { error: people.message }));
    else if (people) participants = people;
    $("poll-error").hidden = true;
  } catch (err) {
    $("poll-error").hidden = false;
    setText($("poll-error"), t("tech.cannot_refresh", { error: err.message }));
  }
  renderReceivers();
  renderHandsets();
  renderParticipants();
  renderTables();
  renderRollcall();
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
