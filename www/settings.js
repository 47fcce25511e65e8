// The Generate form: its values as the engine's begin() options, the engine's exact rules for each
// field (crate/src/request.rs and crate/src/sampler: decimals with at most three or six places, the
// ranges of SamplingParams::validate), the one-line summary of the settings, and keeping the form
// in this browser (localStorage) so that a reload loses nothing.

const FORM_KEY = 'verbatim.form';
const U64_MAX = 18446744073709551615n;

/**
 * A decimal as the engine reads it: digits, optionally a point and digits, of which only the first
 * `places` may be other than 0. Returns the value in units of 10^-places as a BigInt, or an error.
 */
export function parseFixed(text, places) {
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) return { error: `write a decimal number such as ${places === 3 ? '0.7' : '0.95'}` };
  const fraction = match[2] ?? '';
  if (/[1-9]/.test(fraction.slice(places))) {
    return { error: `at most ${places === 3 ? 'three' : 'six'} decimals (the engine computes in ${places === 3 ? 'thousandths' : 'millionths'})` };
  }
  return { value: BigInt(match[1]) * 10n ** BigInt(places) + BigInt(fraction.slice(0, places).padEnd(places, '0') || '0') };
}

/** Each decimal field: [decimal places, lowest, highest (in the engine's units), the range in words]. */
const DECIMALS = {
  temperature: [3, 0n, 10_000n, 'from 0 to 10'],
  top_p: [6, 0n, 1_000_000n, 'from 0 to 1'],
  min_p: [6, 0n, 1_000_000n, 'from 0 to 1'],
  repeat_penalty: [3, 100n, 10_000n, 'from 0.1 to 10'],
};

/** The rule a decimal field's text breaks, in words, or null. */
export function decimalError(name, text) {
  const [places, low, high, range] = DECIMALS[name];
  if (text === '') return 'required';
  const parsed = parseFixed(text, places);
  if (parsed.error) return parsed.error;
  if (parsed.value < low || parsed.value > high) return range;
  return null;
}

/** The rule a whole-number field's text breaks, or null. */
export function integerError(text, low, high) {
  if (text === '') return 'required';
  if (!/^\d+$/.test(text)) return 'a whole number';
  const value = BigInt(text);
  if (value < BigInt(low) || value > BigInt(high)) return `a whole number from ${low} to ${high}`;
  return null;
}

/** The seed's rule: a u64 in decimal (20 digits at most). */
export function seedError(text) {
  if (!/^\d{1,20}$/.test(text) || BigInt(text) > U64_MAX) return 'a whole number from 0 to 18446744073709551615';
  return null;
}

/** The fields of the form, by the engine option each one sets. */
export function formFields(ui) {
  return {
    max_tokens: ui.maxTokens,
    temperature: ui.temperature,
    top_k: ui.topK,
    top_p: ui.topP,
    min_p: ui.minP,
    repeat_penalty: ui.repeatPenalty,
    repeat_last_n: ui.repeatLastN,
    seed: ui.seed,
  };
}

/**
 * Checks every field: marks the invalid ones (aria-invalid, the message under the field, the
 * browser's custom validity) and returns [{input, label, message}] of the failures.
 */
export function validateForm(ui) {
  const failures = [];
  const fields = formFields(ui);
  for (const [name, input] of Object.entries(fields)) {
    const text = input.value.trim();
    let message;
    if (name in DECIMALS) message = decimalError(name, text);
    else if (name === 'seed') message = seedError(text);
    else if (name === 'max_tokens') message = integerError(text, 1, Number(input.max) || 4096);
    else if (name === 'top_k') message = integerError(text, 0, 1_000_000);
    else message = integerError(text, 0, 4_294_967_295);
    const error = document.getElementById(`${input.id}-error`);
    input.setCustomValidity(message ?? '');
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      const label = document.querySelector(`label[for="${input.id}"]`)?.textContent.trim() ?? name;
      error.textContent = `${label}: ${message}.`;
      error.hidden = false;
      failures.push({ input, label, message });
    } else {
      input.removeAttribute('aria-invalid');
      error.textContent = '';
      error.hidden = true;
    }
  }
  return failures;
}

/** The engine's begin() options from the form; decimals stay strings (the engine parses them exactly). */
export function runFromForm(ui, conversation) {
  const decimal = (input) => input.value.trim();
  const integer = (input) => Number(input.value);
  const run = {
    prompt: ui.prompt.value,
    chat: ui.chatToggle.checked,
    max_tokens: integer(ui.maxTokens),
    temperature: decimal(ui.temperature),
    top_k: integer(ui.topK),
    top_p: decimal(ui.topP),
    min_p: decimal(ui.minP),
    repeat_penalty: decimal(ui.repeatPenalty),
    repeat_last_n: integer(ui.repeatLastN),
    seed: ui.seed.value.trim(),
    stop: ui.stopStrings.value.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== ''),
  };
  if (run.chat && conversation.length > 0) {
    // A conversation: the earlier turns, then this prompt; the link carries all of it.
    run.messages = [...conversation, { role: 'user', content: run.prompt }];
  }
  return run;
}

/** Puts a run's options (a link's or a history entry's) into the form; returns the conversation before its last user turn. */
export function fillForm(ui, run) {
  let conversation = [];
  let prompt = run.prompt ?? '';
  if (run.chat && Array.isArray(run.messages) && run.messages.length > 0) {
    const last = run.messages[run.messages.length - 1];
    if (last.role === 'user') {
      conversation = run.messages.slice(0, -1);
      prompt = last.content;
    } else {
      conversation = run.messages;
      prompt = '';
    }
  }
  ui.prompt.value = prompt;
  ui.chatToggle.checked = Boolean(run.chat);
  ui.maxTokens.value = String(run.max_tokens ?? 64);
  ui.temperature.value = run.temperature ?? '0';
  ui.topK.value = String(run.top_k ?? 40);
  ui.topP.value = run.top_p ?? '0.95';
  ui.minP.value = run.min_p ?? '0.05';
  ui.repeatPenalty.value = run.repeat_penalty ?? '1';
  ui.repeatLastN.value = String(run.repeat_last_n ?? 64);
  ui.seed.value = run.seed ?? '0';
  ui.stopStrings.value = (run.stop ?? []).join('\n');
  return conversation;
}

/** "greedy · 64 tokens" or "temperature 0.8 · seed 42 · 64 tokens", plus anything else not at its default. */
export function settingsSummary(ui) {
  const greedy = decimalError('temperature', ui.temperature.value.trim()) === null && parseFixed(ui.temperature.value.trim(), 3).value === 0n;
  const parts = [greedy ? 'greedy' : `temperature ${ui.temperature.value.trim()} · seed ${ui.seed.value.trim()}`];
  if (!greedy) {
    if (ui.topK.value !== '40') parts.push(`top-k ${ui.topK.value}`);
    if (ui.topP.value.trim() !== '0.95') parts.push(`top-p ${ui.topP.value.trim()}`);
    if (ui.minP.value.trim() !== '0.05') parts.push(`min-p ${ui.minP.value.trim()}`);
  }
  if (ui.repeatPenalty.value.trim() !== '1') parts.push(`repetition penalty ${ui.repeatPenalty.value.trim()}`);
  const stops = ui.stopStrings.value.split('\n').filter((line) => line !== '').length;
  if (stops > 0) parts.push(`${stops} stop string${stops === 1 ? '' : 's'}`);
  parts.push(`${ui.maxTokens.value} tokens`);
  return { text: parts.join(' · '), greedy };
}

/** Saves the form (and the conversation) in this browser. */
export function saveForm(ui, conversation) {
  try {
    const run = runFromForm(ui, []);
    run.max_tokens = ui.maxTokens.value;
    run.top_k = ui.topK.value;
    run.repeat_last_n = ui.repeatLastN.value;
    run.stop = ui.stopStrings.value.split('\n');
    localStorage.setItem(FORM_KEY, JSON.stringify({ run, conversation }));
  } catch {
    // storage full or disabled: the form still works
  }
}

/** Restores a saved form; returns the saved conversation, or null when nothing was saved. */
export function restoreForm(ui) {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(FORM_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.run !== 'object' || saved.run === null) return null;
  const { run } = saved;
  const text = (value, fallback) => (typeof value === 'string' || typeof value === 'number' ? String(value) : fallback);
  ui.prompt.value = text(run.prompt, ui.prompt.value);
  ui.chatToggle.checked = run.chat !== false;
  ui.maxTokens.value = text(run.max_tokens, ui.maxTokens.value);
  ui.temperature.value = text(run.temperature, ui.temperature.value);
  ui.topK.value = text(run.top_k, ui.topK.value);
  ui.topP.value = text(run.top_p, ui.topP.value);
  ui.minP.value = text(run.min_p, ui.minP.value);
  ui.repeatPenalty.value = text(run.repeat_penalty, ui.repeatPenalty.value);
  ui.repeatLastN.value = text(run.repeat_last_n, ui.repeatLastN.value);
  ui.seed.value = text(run.seed, ui.seed.value);
  ui.stopStrings.value = Array.isArray(run.stop) ? run.stop.join('\n') : '';
  const conversation = Array.isArray(saved.conversation)
    ? saved.conversation.filter((m) => m && typeof m.role === 'string' && typeof m.content === 'string')
    : [];
  return conversation;
}

/** A random u64 as a decimal string. */
export function randomSeed() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(words[0]) << 32n) | BigInt(words[1])).toString();
}

/** Shows the conversation so far above the prompt (multi-turn chat). */
export function showConversation(ui, conversation) {
  ui.conversationTurns.replaceChildren(
    ...conversation.map(({ role, content }) => {
      const item = document.createElement('li');
      item.className = `turn ${role === 'assistant' ? 'assistant' : 'user'}`;
      const who = document.createElement('strong');
      who.textContent = role === 'assistant' ? 'Model: ' : role === 'user' ? 'You: ' : `${role}: `;
      const text = document.createElement('span');
      text.textContent = content;
      item.append(who, text);
      return item;
    }),
  );
  ui.conversation.hidden = conversation.length === 0;
  ui.prompt.labels[0].textContent = conversation.length === 0 ? 'Prompt' : 'Your reply';
}
