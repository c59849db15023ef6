// The host console: the agenda with each theme's round, and for the selected theme the
// commands that move it through its phases. The API is the judge of every command: the
// buttons stay usable (this view may be a moment behind) and a refusal shows the API's text.

import { hhmm, lang, t } from "/static/i18n.js";
import { api, el, follow, mmss, setText, showLink, withToken } from "/static/live.js";
import {
  phaseName,
  Rounds,
  plannedLeft,
  renderOptions,
  statusText,
  summaryLine,
  timer,
  turnout,
} from "/static/round.js";

const TICK_MS = 250;
const EXTEND_S = 30;
const EARLY_S = 1; // closing with more than this left on the timer asks first

const rounds = new Rounds();
const $ = (id) => document.getElementById(id);
let chosenTheme = null; // the host's pick; until then the console follows the current round
let shownTheme = null;
let busy = false;

// Which theme and round the controls act on.

function themes() {
  return rounds.agenda ? rounds.agenda.themes : [];
}

function themeOf(roundId) {
  const state = roundId && rounds.states.get(roundId);
  return state ? state.theme || state.round : null;
}

function selected() {
  const theme =
    chosenTheme || themeOf(rounds.current) || (themes()[0] && themes()[0].id) || null;
  const attempts = theme ? rounds.ofTheme(theme) : [];
  const state = attempts.length ? attempts[attempts.length - 1] : null;
  return { theme, id: state ? state.round : theme, state, attempts };
}

function plannedVotingS(theme) {
  const t = themes().find((x) => x.id === theme);
  const voting = t && t.phases.find((p) => p.name === "voting");
  return voting ? Math.round(voting.minutes * 60) : null;
}

// Drawing.

function renderAgenda() {
  const list = $("agenda");
  const { theme: active } = selected();
  const items = [];
  const breaks = rounds.agenda ? [...rounds.agenda.breaks] : [];
  for (const t of themes()) {
    while (breaks.length && t.starts && breaks[0].starts < t.starts) items.push(breakItem(breaks.shift()));
    items.push(themeItem(t.id, t.title, t.starts, active));
  }
  items.push(...breaks.map(breakItem));
  if (!rounds.agenda && rounds.states.size === 0) items.push(noAgendaItem());
  // Rounds outside the agenda (ad hoc, or from an earlier agenda) are run the same way.
  const known = new Set(themes().map((t) => t.id));
  const others = new Set([...rounds.states.values()].map((s) => s.theme || s.round));
  for (const id of others) {
    if (!known.has(id)) items.push(themeItem(id, rounds.ofTheme(id)[0].title || id, null, active));
  }
  list.replaceChildren(...items);
}

function themeItem(id, title, starts, active) {
  const attempts = rounds.ofTheme(id);
  const last = attempts[attempts.length - 1];
  const status = statusText(last, last && rounds.doc(last.round));
  const isCurrent = last && last.round === rounds.current;
  return el(
    "li",
    { class: `item${id === active ? " selected" : ""}`, dataset: { theme: id } },
    el(
      "button",
      { type: "button", class: "theme-button", onclick: () => choose(id) },
      el("span", { class: "time" }, starts ? hhmm(starts) : ""),
      el("span", { class: "title" }, title),
      el(
        "span",
        { class: `badge${last && last.status === "open" ? " live" : ""}`, dataset: { status: status } },
        status,
      ),
      attempts.length > 1 ? el("span", { class: "meta" }, ` ${t("host.rounds", { n: attempts.length })}`) : null,
      isCurrent ? el("span", { class: "now" }, t("host.now")) : null,
    ),
  );
}

function noAgendaItem() {
  return el(
    "li",
    { class: "item empty", id: "no-agenda" },
    t("host.no_agenda.1"),
    el("code", {}, "[event] agenda"),
    t("host.no_agenda.2"),
    el("code", {}, "PUT /api/v1/agenda"),
    t("host.no_agenda.3"),
    el("code", {}, "POST /api/v1/rounds/{id}"),
    t("host.no_agenda.4"),
  );
}

function breakItem(b) {
  return el(
    "li",
    { class: "item break" },
    el("span", { class: "time" }, hhmm(b.starts)),
    el("span", { class: "title" }, `${b.title} (${t("host.minutes", { n: b.minutes })})`),
  );
}

function renderPanel() {
  const { theme, id, state } = selected();
  const agendaTheme = themes().find((t) => t.id === theme);
  if (theme !== shownTheme) {
    shownTheme = theme;
    const planned = plannedVotingS(theme);
    $("duration").value = planned != null ? String(planned) : "";
  }
  const question = state ? state.question : agendaTheme ? agendaTheme.question : null;
  setText($("theme-title"), state ? state.title || state.round : agendaTheme ? agendaTheme.title : theme || t("host.no_theme"));
  setText($("theme-meta"), meta(id, state, agendaTheme));
  setText($("question"), question ? question.text : "");
  const doc = state && state.status !== "ready" ? rounds.doc(state.round) : null;
  const status = $("round-status");
  setText(status, statusText(state, doc));
  status.className = `badge${state && state.status === "open" ? " live" : ""}`;
  renderOptions($("options"), question, doc);
  $("hidden").hidden = !(doc && doc.hidden);
  const [voters, share] = turnout(doc);
  setText($("voters"), voters);
  setText($("turnout"), share);
  setText($("summary"), doc && !doc.hidden && question ? summaryLine(question, doc) : "");
  renderTables(doc);
  renderButtons(state);
  renderLinks(id, state);
  tick();
}

function meta(id, state, agendaTheme) {
  if (!id) return "";
  const parts = [t("host.meta.round", { id })];
  const source = state || agendaTheme;
  if (state && state.attempt > 1) parts.push(t("round.revote", { n: state.attempt - 1 }));
  if (source) {
    parts.push(
      t(`kind.${source.question.kind}`),
      t(`policy.${source.policy}`),
      t(`visibility.${source.visibility}`),
    );
  }
  if (agendaTheme && agendaTheme.speaker) parts.push(agendaTheme.speaker);
  return parts.join(" · ");
}

function renderTables(doc) {
  const tables = doc && doc.tables ? Object.entries(doc.tables) : [];
  $("tables-box").hidden = tables.length === 0;
  const signature = JSON.stringify(tables);
  const box = $("tables");
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  box.replaceChildren(
    ...tables.map(([table, seats]) =>
      el(
        "span",
        {
          class: `table${seats.complete ? " complete" : ""}`,
          title: t("host.table_voted", { table, voted: seats.voted, seated: seats.seated }),
        },
        el("b", {}, table),
        ` ${seats.voted}/${seats.seated}`,
      ),
    ),
  );
}

function renderButtons(state) {
  for (const button of document.querySelectorAll("#controls button")) button.disabled = busy;
  const status = state ? state.status : "ready";
  const pause = $("btn-pause");
  setText(pause, status === "paused" ? t("host.btn.resume") : t("host.btn.pause"));
  const reveal = $("btn-reveal");
  reveal.hidden = !(state && state.visibility === "hidden");
  setText(reveal, state && state.revealed ? t("host.btn.hide") : t("host.btn.reveal"));
  // What fits the round's state is highlighted; the rest stays usable (the API decides).
  const fits = {
    "btn-presentation": status === "ready",
    "btn-discussion": status === "ready",
    "btn-open": status === "ready",
    "btn-extend": status === "open" || status === "paused",
    "btn-pause": status === "open" || status === "paused",
    "btn-close": status === "open" || status === "paused",
    "btn-revote": status === "closed",
    "btn-reveal": status === "closed",
  };
  for (const [id, fit] of Object.entries(fits)) $(id).classList.toggle("unlikely", !fit);
}

function renderLinks(id, state) {
  const links = $("links");
  const signature = `${id}|${state ? state.status : ""}`;
  if (links.dataset.signature === signature) return;
  links.dataset.signature = signature;
  if (!id) {
    links.replaceChildren();
    return;
  }
  const base = `/api/v1/rounds/${encodeURIComponent(id)}`;
  const inLang = (href) => `${href}${href.includes("?") ? "&" : "?"}lang=${lang}`;
  const link = (href, text) => el("a", { href, target: "_blank", rel: "noopener" }, text);
  const line = el(
    "span",
    {},
    t("host.links.round"),
    el("code", {}, id),
    ": ",
    link(`${base}/results`, t("host.links.results")),
    " · ",
    link(inLang(`${base}/results.csv`), "results.csv"),
    " · ",
    link(inLang(withToken(`${base}/votes.csv`)), "votes.csv"),
    " · ",
    link(inLang(`${base}/report.html`), t("host.links.report")),
    state && state.status !== "closed" ? el("span", { class: "meta" }, ` ${t("host.links.after_close")}`) : null,
  );
  links.replaceChildren(line);
}

function tick() {
  const { state } = selected();
  const clockState = timer(state);
  const countdown = $("countdown");
  countdown.dataset.mode = clockState.mode;
  let label = "";
  let text = clockState.text;
  if (clockState.mode === "voting") {
    label = clockState.seconds == null ? t("host.timer.none") : t("host.timer.closes_in");
  } else if (clockState.mode === "paused") {
    label = clockState.seconds != null ? t("timer.left", { time: mmss(clockState.seconds) }) : "";
  } else if (clockState.mode === "planned") {
    const left = plannedLeft(state);
    label = t("host.timer.planned", { phase: phaseName(state.phase) });
    text = left >= 0 ? mmss(left) : t("host.timer.over", { time: mmss(-left) });
  }
  setText($("phase-label"), label);
  setText(countdown, clockState.mode === "closed" ? "" : text);
}

function render() {
  renderAgenda();
  renderPanel();
}

// Commands.

function choose(theme) {
  chosenTheme = theme;
  clearMessages();
  render();
}

function clearMessages() {
  $("error").hidden = true;
  setText($("error"), "");
  setText($("notice"), "");
}

async function command(what, path, body) {
  if (busy) return;
  busy = true;
  clearMessages();
  renderPanel();
  try {
    const state = await api("POST", path, body);
    // The answer is the round's new state: shown now, not when the stream brings it.
    if (state && state.round) rounds.putState(state.round, state);
    // What was done, to which round: the badge beside the title already shows the status.
    if (state && state.round) setText($("notice"), `${what}: ${state.title || state.round}`);
  } catch (err) {
    $("error").hidden = false;
    setText($("error"), err.message);
  } finally {
    busy = false;
    render();
  }
}

function roundPath(action) {
  const { id } = selected();
  return `/api/v1/rounds/${encodeURIComponent(id)}${action ? "/" + action : ""}`;
}

function onClick(id, handler) {
  $(id).addEventListener("click", () => {
    if (!selected().id) {
      $("error").hidden = false;
      setText($("error"), t("host.pick_theme"));
      return;
    }
    handler();
  });
}

function confirmClose(state) {
  const left = state.status === "paused" ? state.remaining_s : timer(state).seconds;
  if (left == null || left <= EARLY_S) return Promise.resolve(true);
  setText($("confirm-text"), t("host.confirm", { title: state.title || state.round, time: mmss(left) }));
  const dialog = $("confirm");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

onClick("btn-presentation", () => command(t("host.done.presentation"), roundPath("phase"), { phase: "presentation" }));
onClick("btn-discussion", () => command(t("host.done.discussion"), roundPath("phase"), { phase: "discussion" }));
onClick("btn-open", () => {
  const value = $("duration").value.trim();
  command(t("host.done.open"), roundPath("open"), value ? { duration_s: Number(value) } : undefined);
});
onClick("btn-extend", () => command(t("host.done.extend", { n: EXTEND_S }), roundPath("extend"), { seconds: EXTEND_S }));
onClick("btn-pause", () => {
  const { state } = selected();
  if (state && state.status === "paused") command(t("host.done.resume"), roundPath("resume"));
  else command(t("host.done.pause"), roundPath("pause"));
});
onClick("btn-close", async () => {
  const { state } = selected();
  if (state && (state.status === "open" || state.status === "paused") && !(await confirmClose(state))) return;
  command(t("host.done.close"), roundPath("close"));
});
onClick("btn-revote", () => command(t("host.done.revote"), roundPath("revote")));
onClick("btn-reveal", () => {
  const { state } = selected();
  command(state && state.revealed ? t("host.done.hide") : t("host.done.reveal"), roundPath("reveal"), {
    revealed: !(state && state.revealed),
  });
});

// Data: the REST state first (so the console works even before the stream has replayed),
// then every change from the stream.

async function load() {
  try {
    const [agenda, states, current] = await Promise.all([
      api("GET", "/api/v1/agenda").catch((err) => {
        if (err.status === 404) return null; // no agenda: rounds can still be run ad hoc
        throw err;
      }),
      api("GET", "/api/v1/rounds"),
      api("GET", "/api/v1/rounds/current"),
    ]);
    if (agenda && !rounds.agenda) rounds.agenda = agenda;
    for (const s of states) rounds.putState(s.round, s);
    if (current && rounds.current == null) rounds.current = current.round;
    $("agenda-error").hidden = true;
  } catch (err) {
    $("agenda-error").hidden = false;
    setText($("agenda-error"), err.message);
  }
  setText($("event"), rounds.agenda ? rounds.agenda.title : "");
  render();
}

let pending = false;
follow(
  ["round/", "agenda"],
  (topic, payload) => {
    if (!rounds.take(topic, payload)) return;
    if (topic === "agenda") setText($("event"), payload ? payload.title : "");
    // Tallies come up to ten times a second; the agenda list only changes with states.
    if (topic.endsWith("/tally")) renderPanel();
    else if (!pending) {
      pending = true;
      queueMicrotask(() => {
        pending = false;
        render();
      });
    }
  },
  (state) => showLink($("link"), state),
);
load();
setInterval(tick, TICK_MS);
