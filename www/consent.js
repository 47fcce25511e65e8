// When a model download asks first: a file over 100 MB, not yet saved in this browser, on a
// connection the browser reports as metered (Save-Data) or slow (Network Information API, where
// there is one). Shared by the page's Model card and the embed view. No DOM.

/** Downloads larger than this ask first on a metered or slow connection. */
export const ASK_ABOVE_BYTES = 100e6;

/** Whether this connection asks to save data or is slow. */
export function meteredConnection() {
  const connection = globalThis.navigator?.connection;
  return Boolean(connection && (connection.saveData || /^(slow-2g|2g|3g)$/.test(connection.effectiveType ?? '')));
}

/** Whether downloading `model` ({size}) must be agreed to first; `saved`: a verified copy is kept here. */
export function asksBeforeDownload(model, saved) {
  return !saved && model.size > ASK_ABOVE_BYTES && meteredConnection();
}
