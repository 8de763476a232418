// What the citizen's browser keeps: the draft being written (it survives a reload), the reports
// sent from here (case number + tracking code) and the cases followed ("我也遇到了" → 关注).
import { newIdempotencyKey } from "../../api.js";
import { draftStore } from "../../ui.js";

// localStorage "cityops.citizen.draft" and "cityops.citizen.mine".
const kept = draftStore("cityops.citizen.");
const MAX_KEPT = 30;

/** The draft; its idempotency key is made once and kept until the report is accepted. */
export function loadDraft() {
  const draft = kept.get("draft") ?? {};
  draft.key ||= newIdempotencyKey();
  draft.photos ||= [];
  draft.step ||= 1;
  return draft;
}

export function saveDraft(draft) {
  kept.set("draft", draft);
}

export function clearDraft() {
  kept.clear("draft");
}

/** [{case_no, code?, category_name, at, followed?}], newest first. */
export function myCases() {
  return kept.get("mine") ?? [];
}

export function remember(entry) {
  const rest = myCases().filter((c) => c.case_no !== entry.case_no || (entry.followed && c.code));
  if (rest.some((c) => c.case_no === entry.case_no)) return; // already there with its code
  kept.set("mine", [entry, ...rest].slice(0, MAX_KEPT));
}

export function codeFor(caseNo) {
  return myCases().find((c) => c.case_no === caseNo && c.code)?.code || "";
}
