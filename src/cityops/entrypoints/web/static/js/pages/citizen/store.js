// What the citizen's browser keeps: the draft being written (it survives a reload), the reports
// sent from here (case number + tracking code) and the cases followed ("我也遇到了" → 关注).
const DRAFT = "cityops.citizen.draft";
const MINE = "cityops.citizen.mine";
const MAX_KEPT = 30;

function read(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null") ?? fallback;
  } catch {
    return fallback;
  }
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** The draft; its idempotency key is made once and kept until the report is accepted. */
export function loadDraft() {
  const draft = read(DRAFT, {});
  draft.key ||= newKey();
  draft.photos ||= [];
  draft.step ||= 1;
  return draft;
}

export function saveDraft(draft) {
  localStorage.setItem(DRAFT, JSON.stringify(draft));
}

export function clearDraft() {
  localStorage.removeItem(DRAFT);
}

/** [{case_no, code?, category_name, at, followed?}], newest first. */
export function myCases() {
  return read(MINE, []);
}

export function remember(entry) {
  const rest = myCases().filter((c) => c.case_no !== entry.case_no || (entry.followed && c.code));
  if (rest.some((c) => c.case_no === entry.case_no)) return; // already there with its code
  localStorage.setItem(MINE, JSON.stringify([entry, ...rest].slice(0, MAX_KEPT)));
}

export function codeFor(caseNo) {
  return myCases().find((c) => c.case_no === caseNo && c.code)?.code || "";
}
