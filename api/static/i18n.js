// The pages' language: the event's ([event] language, from GET /api/v1/language), or the one
// picked with the switch on any page (kept in this browser), or ?lang= in the address. Texts
// come from a JSON catalogue per language (/static/i18n/en.json, da.json); numbers and times
// are written the locale's way (Danish: 51,5 %, 14.30).

const STORED = "arsbridge-lang";
const NAMES = { da: "Dansk", en: "English" };

async function json(url) {
  try {
    const response = await fetch(url, { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null; // the service is not reachable yet: English until it is
  }
}

const event = (await json("/api/v1/language")) || { language: "en", languages: ["en"] };
const languages = event.languages || ["en"];
const asked = new URLSearchParams(location.search).get("lang") || localStorage.getItem(STORED);
/** The language of this page: "en" or "da". */
export const lang = languages.includes(asked) ? asked : event.language;
const english = (await json("/static/i18n/en.json")) || {};
const messages = lang === "en" ? english : { ...english, ...((await json(`/static/i18n/${lang}.json`)) || {}) };
const tag = lang === "da" ? "da-DK" : "en-GB";

/** The text of `key`, with `{name}` placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}

/** `key.one` or `key.other` by `n`, with `{n}` written as a number of the locale. */
export function tn(key, n, values = {}) {
  return t(`${key}.${n === 1 ? "one" : "other"}`, { n: num(n), ...values });
}

const formats = new Map();
/** A number with `digits` decimals (whole numbers without), the locale's way. */
export function num(n, digits = null) {
  if (n == null || Number.isNaN(n)) return "–";
  const places = digits ?? (Number.isInteger(n) ? 0 : 1);
  if (!formats.has(places)) {
    formats.set(places, new Intl.NumberFormat(tag, { minimumFractionDigits: places, maximumFractionDigits: places, useGrouping: false }));
  }
  return formats.get(places).format(n);
}

/** "51.5 %" or "51,5 %". */
export function pct(p, digits = 1) {
  return p == null ? "–" : `${num(p, digits)} %`;
}

/** A clock time given as "HH:MM[:SS]" (the agenda's), written the locale's way: 14:30 or 14.30. */
export function hhmm(text) {
  if (!text) return "";
  const [h, m] = text.split(":");
  return lang === "da" ? `${h}.${m}` : `${h}:${m}`;
}

/** Translate the page's own texts: `data-i18n` sets the text, `data-i18n-title` and
 * `data-i18n-placeholder` the attributes. */
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.setAttribute("title", t(node.dataset.i18nTitle));
  // Links to files the service writes (report, CSV) ask for them in this language.
  for (const link of root.querySelectorAll("a[data-lang-link]")) {
    const address = new URL(link.getAttribute("href"), location.href);
    address.searchParams.set("lang", lang);
    link.setAttribute("href", address.pathname + address.search);
  }
  if (document.body.dataset.i18nTitle) document.title = t(document.body.dataset.i18nTitle);
}

/** The switch between the languages, in the element `#lang` if the page has one. */
function languageSwitch() {
  const box = document.getElementById("lang");
  if (!box) return;
  box.replaceChildren(
    ...languages.map((code) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `lang-choice${code === lang ? " chosen" : ""}`;
      button.dataset.lang = code;
      button.textContent = NAMES[code] || code;
      button.setAttribute("aria-pressed", String(code === lang));
      button.addEventListener("click", () => {
        localStorage.setItem(STORED, code);
        const address = new URL(location.href);
        address.searchParams.set("lang", code);
        location.replace(address.toString());
      });
      return button;
    }),
  );
}

document.documentElement.lang = lang;
translate();
languageSwitch();
