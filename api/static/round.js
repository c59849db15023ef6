// A round as the display and the host console show it: which figures stand by each option
// (per question kind), the timer, the phase, and the latest of every round document.

import { t, tn, num, pct } from "/static/i18n.js";
import { clock, el, mmss, setText } from "/static/live.js";

/** A phase's name on the pages. */
export function phaseName(phase) {
  return phase ? t(`phase.${phase}`) : "";
}

/** The latest round states, tallies and final results, and which round is current. */
export class Rounds {
  constructor() {
    this.states = new Map();
    this.tallies = new Map();
    this.results = new Map();
    this.current = null;
    this.agenda = null;
  }

  /** Take a stream message; true when it was about rounds or the agenda. */
  take(topic, payload) {
    if (topic === "agenda") {
      this.agenda = payload;
      return true;
    }
    const parts = topic.split("/");
    if (parts[0] !== "round") return false;
    if (parts[1] === "current" && parts.length === 2) {
      this.current = payload ? payload.round : null;
      return true;
    }
    const [, id, kind] = parts;
    if (kind === "state") this.putState(id, payload);
    else if (kind === "tally") put(this.tallies, id, payload);
    else if (kind === "results") put(this.results, id, payload);
    else return false;
    return true;
  }

  /** A round state from the stream or a command's answer: the highest revision wins. */
  putState(id, state) {
    if (!state) {
      this.states.delete(id);
      return;
    }
    const known = this.states.get(id);
    if (known && known.revision > state.revision) return;
    this.states.set(id, state);
    // The controller stamps these with the clock the deadline is on.
    for (const t of [state.phase_started_at, state.closed_at]) clock.atLeast(t);
  }

  /** The figures to show for a round: its final results once published, else its tally. */
  doc(id) {
    const tally = this.tallies.get(id);
    const results = this.results.get(id);
    if (results && (!tally || results.ts >= tally.ts)) return results;
    return tally || null;
  }

  /** The rounds of a theme (the first and its re-votes), oldest first. */
  ofTheme(themeId) {
    return [...this.states.values()]
      .filter((s) => (s.theme || s.round) === themeId)
      .sort((a, b) => a.attempt - b.attempt);
  }
}

function put(map, id, payload) {
  if (payload) map.set(id, payload);
  else map.delete(id);
}

/** One row per option: what its bar and figure say. */
export function figures(question, doc) {
  const options = question ? question.options : [];
  const counts = (doc && doc.counts) || {};
  const percent = (doc && doc.percent) || {};
  const summary = (doc && doc.summary) || {};
  const leading = new Set(summary.leading || (summary.order || []).slice(0, 1));
  const anyVotes = doc && doc.voters > 0;
  return options.map((option, index) => {
    const count = counts[option.key] || 0;
    const pctValue = percent[option.key] || 0;
    let figure = pct(pctValue);
    let detail = tn("figure.votes", count);
    if (question.kind === "ranking") {
      figure = t("figure.points", { n: num(count) });
      detail = t("figure.of_points", { pct: pct(pctValue) });
    } else if (question.kind === "multi") {
      detail = tn("figure.of_voters", doc ? doc.voters : 0, { count: num(count) });
    }
    return {
      key: option.key,
      label: option.label || t("option.unnamed", { key: option.key }),
      index,
      percent: pctValue,
      figure,
      detail,
      leading: Boolean(anyVotes && leading.has(option.key)),
    };
  });
}

/** What the kind adds below the bars: yes of those who decided, a mean, a ranking order. */
export function summaryLine(question, doc) {
  const summary = doc && doc.summary;
  if (!summary || !doc.voters) return "";
  if (question.kind === "yesno" && summary.yes_of_decided != null) {
    return `${t("summary.yes_of_decided", { pct: pct(summary.yes_of_decided) })} · ${tn(
      "summary.abstentions",
      summary.abstained,
    )}`;
  }
  if (question.kind === "rating" && summary.mean != null) {
    return t("summary.mean", { mean: num(summary.mean, 2) });
  }
  if (question.kind === "multi") return t("summary.multi");
  if (question.kind === "ranking") return t("summary.ranking");
  return t("summary.single");
}

/** Voters and turnout in words: the turnout says what it is a share of, and never tops 100 %. */
export function turnout(doc) {
  if (!doc) return ["", ""];
  const turn = doc.turnout || {};
  const voters = tn("turnout.voters", doc.voters || 0);
  if (turn.paired) {
    const inPaired = turn.paired_voters != null ? turn.paired_voters : Math.min(doc.voters || 0, turn.paired);
    const share = pct(Math.min(100, (100 * inPaired) / turn.paired), 0);
    const others = (doc.voters || 0) - inPaired;
    const text = t("turnout.paired", { voted: num(inPaired), paired: num(turn.paired), pct: share });
    return [voters, others > 0 ? `${text} · ${tn("turnout.unpaired", others)}` : text];
  }
  if (turn.heard) {
    return [voters, t("turnout.heard", { pct: pct(Math.min(100, turn.percent_heard || 0), 0), heard: num(turn.heard) })];
  }
  return [voters, ""];
}

/** The timer: {mode, text, seconds}; mode is voting, paused, closed, planned or idle. */
export function timer(state, now = clock.now()) {
  if (!state) return { mode: "idle", text: "", seconds: null };
  if (state.status === "open") {
    if (state.deadline == null) return { mode: "voting", text: t("timer.open"), seconds: null };
    const left = Math.max(0, state.deadline - now);
    return { mode: "voting", text: mmss(left), seconds: left };
  }
  if (state.status === "paused") {
    return { mode: "paused", text: t("timer.paused"), seconds: state.remaining_s };
  }
  if (state.status === "closed") return { mode: "closed", text: mmss(0), seconds: 0 };
  const planned = plannedLeft(state, now);
  if (planned != null) return { mode: "planned", text: mmss(planned), seconds: planned };
  return { mode: "idle", text: "", seconds: null };
}

/** Seconds left of the phase's planned time (negative: over time), or null. */
export function plannedLeft(state, now = clock.now()) {
  if (!state.phase || state.phase_started_at == null) return null;
  const plan = (state.phases || []).find((p) => p.name === state.phase);
  if (!plan) return null;
  return state.phase_started_at + plan.minutes * 60 - now;
}

/** What a round is doing, in a few words, for a status line or an agenda badge. */
export function statusText(state, doc) {
  if (!state) return t("status.not_started");
  if (state.status === "open") return t("status.open");
  if (state.status === "paused") return t("status.paused");
  if (state.status === "closed") {
    if (doc && doc.hidden) return t("status.closed_hidden");
    return doc && doc.final ? t("status.final") : t("status.closed");
  }
  return state.phase ? t(`status.phase.${state.phase}`) : t("status.ready");
}

/** The rows in the order they are shown: a ranking by its result, best first. */
function ordered(question, doc, rows) {
  const order = doc && !doc.hidden && doc.summary && doc.summary.order;
  if (!question || question.kind !== "ranking" || !order || !doc.voters) return rows;
  const rank = new Map(order.map((key, i) => [key, i]));
  return [...rows].sort((a, b) => (rank.get(a.key) ?? a.index) - (rank.get(b.key) ?? b.index));
}

/** Build (once per question and order) or update the option rows in `list`. */
export function renderOptions(list, question, doc) {
  const rows = ordered(question, doc, figures(question, doc));
  const signature = JSON.stringify(rows.map((r) => [r.key, r.label]));
  if (list.dataset.signature !== signature) {
    list.dataset.signature = signature;
    list.replaceChildren(
      ...rows.map((r) =>
        el(
          "li",
          { class: "option", dataset: { key: r.key } },
          el("span", { class: "key" }, r.key),
          el("span", { class: "label" }, r.label),
          el("span", { class: "track" }, el("span", { class: "bar" })),
          el("span", { class: "figure" }),
          el("span", { class: "detail" }),
        ),
      ),
    );
  }
  const showFigures = Boolean(doc && !doc.hidden && doc.counts);
  list.classList.toggle("no-figures", !showFigures);
  rows.forEach((r, i) => {
    const item = list.children[i];
    item.classList.toggle("leading", showFigures && r.leading);
    const width = showFigures ? `${Math.min(100, r.percent)}%` : "0%";
    const bar = item.querySelector(".bar");
    if (bar.style.width !== width) bar.style.width = width;
    setText(item.querySelector(".figure"), showFigures ? r.figure : "");
    setText(item.querySelector(".detail"), showFigures ? r.detail : "");
  });
}

