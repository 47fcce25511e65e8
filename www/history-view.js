// One entry of "Your runs" (history.js keeps them): its input, model, verdict and time, a link to
// it, "Edit this run" and "Delete". All text is set as text.

/** The list item of `entry`; onEdit() and onDelete() are called by its buttons. */
export function historyItem(entry, { onEdit, onDelete }) {
  const item = document.createElement('li');
  item.dataset.testid = 'history-entry';
  const input = document.createElement('p');
  input.className = 'history-input';
  const text = String(entry.input ?? '');
  input.textContent = text.length > 80 ? `${text.slice(0, 80)}…` : text || '(empty prompt)';
  const meta = document.createElement('p');
  meta.className = 'muted';
  meta.dataset.testid = 'history-meta';
  const what = { generated: 'Generated', stopped: 'Generated', replayed: 'Replayed' }[entry.kind] ?? String(entry.kind);
  meta.textContent = `${what} · ${entry.model} · ${entry.verdict} · ${String(entry.at).slice(0, 16).replace('T', ' ')}`;
  const actions = document.createElement('p');
  actions.className = 'history-actions';
  let url = null;
  try {
    url = new URL(entry.url);
  } catch {
    url = null;
  }
  if (url && (url.protocol === 'https:' || url.protocol === 'http:')) {
    const open = document.createElement('a');
    open.href = url.href;
    open.textContent = 'Open the link';
    open.dataset.testid = 'history-link';
    actions.append(open);
  }
  const edit = document.createElement('button');
  edit.type = 'button';
  edit.textContent = 'Edit this run';
  edit.dataset.testid = 'history-edit';
  edit.addEventListener('click', onEdit);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = 'Delete';
  remove.dataset.testid = 'history-delete';
  remove.setAttribute('aria-label', `Delete the run “${input.textContent}”`);
  remove.addEventListener('click', onDelete);
  actions.append(edit, remove);
  item.append(input, meta, actions);
  return item;
}
