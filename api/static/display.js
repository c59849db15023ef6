// The big screen in the hall: follows the current round on its own (no clicks), draws the
// latest state it has, and ticks the timer between messages so it never looks frozen.

import { t } from "/static/i18n.js";
import { follow, mmss, setText, showLink } from "/static/live.js";
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

const TICK_MS = 200; // fine enough that the seconds change on time
const URGENT_S = 10; // the last seconds of a vote are drawn larger and in red

const rounds = new Rounds();
const $ = (id) => document.getElementById(id);

function current() {
  const id = rounds.current;
  return id ? { id, state: rounds.states.get(id) || null, doc: rounds.doc(id) } : null;
}

function render() {
  setText($("event"), rounds.agenda ? rounds.agenda.title : "");
  const round = current();
  const state = round && round.state;
  document.body.dataset.round = round ? round.id : "";
  if (!state) {
    setText($("theme"), t("display.waiting"));
    for (const id of ["question", "summary", "voters", "turnout", "status"]) setText($(id), "");
    renderOptions($("options"), null, null);
    $("hidden").hidden = true;
    tick();
    fit();
    return;
  }
  const { doc } = round;
  const again = state.attempt > 1 ? ` · ${t("round.revote", { n: state.attempt - 1 })}` : "";
  setText($("theme"), (state.title || state.round) + again);
  setText($("question"), state.question.text);
  // Before voting opens the options are read and discussed; bars come with the first vote.
  const voted = state.status !== "ready" ? doc : null;
  renderOptions($("options"), state.question, voted);
  const hidden = Boolean(voted && voted.hidden);
  $("hidden").hidden = !hidden;
  setText(
    $("hidden"),
    hidden && voted.visibility === "after_close" && state.status !== "closed"
      ? t("results.hidden_until_close")
      : t("results.hidden"),
  );
  setText($("summary"), hidden || !voted ? "" : summaryLine(state.question, voted));
  // A yes/no vote is a decision: its line is the headline, not a footnote.
  $("summary").classList.toggle("decision", state.question.kind === "yesno");
  const [voters, share] = turnout(voted);
  setText($("voters"), voters);
  setText($("turnout"), share);
  setText($("status"), statusText(state, voted));
  document.body.dataset.status = state.status;
  tick();
  fit();
}

function tick() {
  const round = current();
  const state = round && round.state;
  const clockState = timer(state);
  const countdown = $("countdown");
  countdown.dataset.mode = clockState.mode;
  document.body.dataset.mode = clockState.mode;
  countdown.classList.toggle(
    "urgent",
    clockState.mode === "voting" && clockState.seconds != null && clockState.seconds <= URGENT_S,
  );
  let phase = "";
  let note = "";
  let text = clockState.text;
  if (clockState.mode === "voting") phase = clockState.seconds == null ? t("phase.voting") : t("display.closes_in");
  else if (clockState.mode === "paused") {
    phase = t("phase.voting");
    note = clockState.seconds != null ? t("timer.left", { time: mmss(clockState.seconds) }) : "";
  } else if (clockState.mode === "closed") {
    // Closed (early or on time): no frozen 0:00, the results are what matters now.
    phase = t("display.closed");
    text = "";
  } else if (clockState.mode === "planned") {
    const left = plannedLeft(state);
    phase = phaseName(state.phase);
    text = left >= 0 ? mmss(left) : `+${mmss(-left)}`;
    note = left >= 0 ? t("timer.planned_left") : t("timer.over");
  } else if (state && state.phase) phase = phaseName(state.phase);
  setText($("phase"), phase);
  setText(countdown, text);
  setText($("clock-note"), note);
}

// The longest titles, questions and labels must fit the screen: the type shrinks in steps
// until nothing is cut off (at most MIN_SCALE of its size).
const MIN_SCALE = 0.55;

let fitted = ""; // what the type was last fitted to: the texts and the window's size

function fit() {
  const body = document.body;
  // main and the title hide what overflows them; a few pixels are glyphs, not lines.
  const overflowing = () =>
    [document.querySelector("main"), $("theme")].some(
      (box) => box && box.scrollHeight > box.clientHeight + 4,
    );
  // Tallies come ten times a second; the type is fitted again only when the texts or the
  // window change, or something no longer fits.
  const key = [innerWidth, innerHeight, $("theme").textContent, $("question").textContent,
    $("summary").textContent, $("options").dataset.signature, $("hidden").hidden].join("|");
  if (key === fitted && !overflowing()) return;
  fitted = key;
  let scale = 1;
  body.style.setProperty("--fit", "1");
  while (overflowing() && scale > MIN_SCALE) {
    scale = Math.max(MIN_SCALE, scale - 0.05);
    body.style.setProperty("--fit", String(scale));
  }
  body.dataset.fit = scale.toFixed(2);
}

follow(
  ["round/", "agenda"],
  (topic, payload) => {
    if (rounds.take(topic, payload)) render();
  },
  (state) => showLink($("link"), state),
);
render();
setInterval(tick, TICK_MS);
window.addEventListener("resize", fit);
