// Model terms accepted before a download (issue 13): a manifest entry with `accept_terms: true`
// (Gemma 3, under the Gemma Terms of Use: its `license` and `license_url`) is downloaded only once
// the person has accepted its terms here. The acceptance is kept in this browser, per model and
// terms address (terms at a new address are asked for again); declining stores nothing. Shared by
// the page's Model card and the embed view. No DOM.

/** Where accepted terms are kept in this browser: {model id: terms address}. */
export const TERMS_KEY = 'verbatim.terms-accepted';

/** Whether `model` (a manifest entry) has terms to accept before it is downloaded. */
export function hasTerms(model) {
  return model?.accept_terms === true;
}

function accepted() {
  try {
    const stored = JSON.parse(localStorage.getItem(TERMS_KEY) ?? '{}');
    return stored !== null && typeof stored === 'object' && !Array.isArray(stored) ? stored : {};
  } catch {
    return {}; // unreadable storage asks again
  }
}

/** Whether downloading `model` must wait for its terms to be accepted. */
export function termsPending(model) {
  return hasTerms(model) && accepted()[model.id] !== String(model.license_url ?? '');
}

/** Remembers that the terms of `model` were accepted (where storage is allowed). */
export function acceptTerms(model) {
  try {
    localStorage.setItem(TERMS_KEY, JSON.stringify({ ...accepted(), [model.id]: String(model.license_url ?? '') }));
  } catch {
    // no storage: asked again next time
  }
}

/** The words asking for the terms of `model` (its name, licence and size). */
export function termsQuestion(model, size) {
  return (
    `${model.name} is provided under the ${model.license || 'terms of its publisher'}. ` +
    `Read them and accept them to download the model (${size}); it is then saved in this browser. ` +
    'Declining downloads nothing and changes nothing else here.'
  );
}
